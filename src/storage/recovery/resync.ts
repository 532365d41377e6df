/**
 * Finding the next intact record after damage (LevelDB's resync): scan byte by byte for a
 * header that is plausible and whose record then passes its CRC. Used by reads, to report what
 * a damaged region lost and where intact records resume, and by recovery, to tell a torn tail
 * (nothing valid after it) from damage with valid records behind it.
 */
import { RECORD_FLAGS_KNOWN, RECORD_HEADER_BYTES } from "../../format/constants.js";
import { DECODE_OK, decodeRecord, RecordView } from "../../format/record.js";
import { readU64 } from "../../format/u64.js";
import { readFully } from "../fs/file-ops.js";
import type { FileHandle } from "../fs/file-system.js";

const CHUNK_BYTES = 1024 * 1024;

export interface ResyncHit {
  offset: number;
  seq: number;
}

/**
 * The first valid record in `[from, to)` whose seq is above `afterSeq` (and plausibly close to
 * it: a seq can grow by at most one per 28 bytes), or undefined.
 */
export async function findNextValidRecord(
  file: FileHandle,
  from: number,
  to: number,
  afterSeq: number,
  maxBodyBytes: number,
): Promise<ResyncHit | undefined> {
  const view = new RecordView();
  const seqLimit = afterSeq + Math.ceil((to - from) / RECORD_HEADER_BYTES) + 1;
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  for (let start = from; start + RECORD_HEADER_BYTES <= to; ) {
    const length = Math.min(CHUNK_BYTES, to - start);
    const got = await readFully(file, chunk, 0, length, start);
    const lastCandidate = got - RECORD_HEADER_BYTES;
    for (let i = 0; i <= lastCandidate; i++) {
      const bodyBytes = chunk.readUInt32LE(i + 4);
      if (bodyBytes > maxBodyBytes || start + i + RECORD_HEADER_BYTES + bodyBytes > to) continue;
      const seq = readU64(chunk, i + 8);
      if (seq <= afterSeq || seq > seqLimit) continue;
      if ((chunk[i + 24]! & ~RECORD_FLAGS_KNOWN) !== 0 || chunk[i + 25] !== 0) continue;
      if (chunk.readUInt16LE(i + 26) > bodyBytes) continue;
      const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + bodyBytes);
      const read = await readFully(file, record, 0, record.byteLength, start + i);
      if (decodeRecord(record, 0, read, seq, view, maxBodyBytes) === DECODE_OK) {
        return { offset: start + i, seq };
      }
    }
    if (got < length) break;
    // Overlap by one header so a header split across chunks is still seen.
    start += Math.max(1, lastCandidate + 1);
  }
  return undefined;
}
