/**
 * Finding the end of the active segment at open (docs/format.md §7, §9 rows 2-7, 12). With a
 * checkpoint that checks out, decoding starts at the checkpoint's last record (which must decode
 * with the checkpoint's seq, CRC and end) and only what follows is scanned; otherwise the whole
 * segment is. The end is the last record with `COMMIT` set: a batch is all there or not at all.
 *
 * It costs few system calls on purpose: one read covers the checkpoint's record and the tail
 * after it, the file size comes from reaching the end instead of an fstat, and the index file is
 * left for the first read that needs it. A journal of 1,000 streams opens with about 11 calls
 * per stream.
 */
import type { Checkpoint } from "../../format/checkpoint.js";
import {
  RECORD_BODY_BYTES_LIMIT,
  RECORD_FLAG_COMMIT,
  SEGMENT_HEADER_BYTES,
} from "../../format/constants.js";
import { DECODE_INCOMPLETE, DECODE_OK, RecordView } from "../../format/record.js";
import { segmentFileName } from "../../format/segment-name.js";
import type { FileHandle, FileSystem } from "../fs/file-system.js";
import { loadIndexFile } from "../index/index-file.js";
import { SparseIndex } from "../index/sparse-index.js";
import { SegmentScanner } from "../read/segment-scanner.js";
import type { RecoveryReporter } from "./recovery-event.js";

/** Small: most tails after a checkpoint are a few records. Larger tails take more reads. */
const SCAN_CHUNK_BYTES = 64 * 1024;

/** Where the committed data of the active segment ends, and what its last record was. */
export interface TailState {
  lastSeq: number;
  lastTimestampMs: number;
  /** Start of the last record in the active segment; 0 when it holds none. */
  lastRecordOffset: number;
  lastRecordCrc: number;
}

export interface ScannedTail {
  /** Offset just past the last complete append. */
  end: number;
  tail: TailState;
  index: SparseIndex;
  /** Size of the file: bytes past `end` are a torn tail. */
  size: number;
  /** Where decoding stopped (the first bad or incomplete record). */
  stoppedAt: number;
  scannedBytes: number;
  /** The end the checkpoint named, when it checked out and the scan started there. */
  checkpointEnd?: number;
}

export interface TailScanOptions {
  fs: FileSystem;
  dir: string;
  name: string;
  report: RecoveryReporter;
}

export async function scanTail(
  options: TailScanOptions,
  file: FileHandle,
  baseSeq: number,
  createdAtMs: number,
  checkpoint: Checkpoint | undefined,
): Promise<ScannedTail> {
  const fromStart: TailState = {
    lastSeq: baseSeq - 1,
    lastTimestampMs: createdAtMs,
    lastRecordOffset: 0,
    lastRecordCrc: 0,
  };
  if (checkpoint !== undefined && checkpoint.segmentBaseSeq === baseSeq) {
    const fromCheckpoint = await scan(file, baseSeq, checkpoint);
    if (fromCheckpoint !== undefined) {
      const start = checkpoint.endOffset;
      fromCheckpoint.index.deferLoad(async () =>
        (await loadIndexFile(options.fs, options.dir, baseSeq)).filter(
          (entry) => entry.offset < start,
        ),
      );
      return { ...fromCheckpoint, checkpointEnd: start };
    }
    options.report({
      kind: "checkpoint-ignored",
      stream: options.name,
      segment: segmentFileName(baseSeq),
      message: "the checkpoint does not match the data; the active segment is scanned in full",
    });
  }
  return (await scan(file, baseSeq, undefined, fromStart))!;
}

/**
 * Decodes from the checkpoint's last record (verifying it) or from the first record. Returns
 * undefined when the checkpoint does not describe the file.
 */
async function scan(
  file: FileHandle,
  baseSeq: number,
  checkpoint: Checkpoint | undefined,
  fromStart?: TailState,
): Promise<ScannedTail | undefined> {
  const emptyCheckpoint = checkpoint !== undefined && checkpoint.lastRecordOffset === 0;
  if (
    emptyCheckpoint &&
    (checkpoint.endOffset !== SEGMENT_HEADER_BYTES || checkpoint.lastSeq !== baseSeq - 1)
  ) {
    return undefined;
  }
  if (
    checkpoint !== undefined &&
    !emptyCheckpoint &&
    checkpoint.lastRecordOffset < SEGMENT_HEADER_BYTES
  )
    return undefined;
  const verifying = checkpoint !== undefined && !emptyCheckpoint;
  const start = verifying ? checkpoint.lastRecordOffset : SEGMENT_HEADER_BYTES;
  let tail: TailState =
    checkpoint !== undefined
      ? {
          lastSeq: checkpoint.lastSeq - (verifying ? 1 : 0),
          lastTimestampMs: checkpoint.lastTimestampMs,
          lastRecordOffset: checkpoint.lastRecordOffset,
          lastRecordCrc: checkpoint.lastRecordCrc,
        }
      : fromStart!;
  const scanner = new SegmentScanner(
    file,
    start,
    Number.POSITIVE_INFINITY,
    SCAN_CHUNK_BYTES,
    RECORD_BODY_BYTES_LIMIT,
  );
  const view = new RecordView();
  const index = new SparseIndex();
  let end = start;
  let pending = tail;
  let first = verifying;
  for (;;) {
    const at = scanner.position;
    const status = scanner.decode(pending.lastSeq + 1, view);
    if (first) {
      first = false;
      if (status === DECODE_INCOMPLETE && !scanner.exhausted) {
        await scanner.fill(view.bytesNeeded);
        first = true;
        continue;
      }
      const crc = status === DECODE_OK ? scanner.buffer.readUInt32LE(view.start) : -1;
      const matches =
        status === DECODE_OK &&
        at + (view.end - view.start) === checkpoint!.endOffset &&
        crc === checkpoint!.lastRecordCrc &&
        (view.flags & RECORD_FLAG_COMMIT) !== 0;
      if (!matches) return undefined;
      tail = {
        lastSeq: view.seq,
        lastTimestampMs: checkpoint!.lastTimestampMs,
        lastRecordOffset: at,
        lastRecordCrc: crc,
      };
      pending = tail;
      end = checkpoint!.endOffset;
      scanner.advance(view);
      continue;
    }
    if (status === DECODE_OK) {
      index.offer(view.seq, view.timestampMs, at);
      pending = {
        lastSeq: view.seq,
        lastTimestampMs: Math.max(view.timestampMs, pending.lastTimestampMs),
        lastRecordOffset: at,
        lastRecordCrc: scanner.buffer.readUInt32LE(view.start),
      };
      if ((view.flags & RECORD_FLAG_COMMIT) !== 0) {
        tail = pending;
        end = at + (view.end - view.start);
      }
      scanner.advance(view);
      continue;
    }
    if (status === DECODE_INCOMPLETE && !scanner.exhausted) {
      await scanner.fill(view.bytesNeeded);
      continue;
    }
    break;
  }
  index.truncate(end);
  const stoppedAt = scanner.position;
  const size = scanner.fileSize ?? (await file.size());
  const scannedFrom = checkpoint?.endOffset ?? SEGMENT_HEADER_BYTES;
  return { end, tail, index, size, stoppedAt, scannedBytes: Math.max(0, size - scannedFrom) };
}
