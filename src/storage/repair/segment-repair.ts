/**
 * Cutting damage out of one segment file (`tidemark repair`, docs/format.md §9.1). The segment is
 * scanned record by record; where a record does not decode, the next intact one is searched for
 * (resync.ts), and the bytes between are a damaged range. The intact runs are kept: the first in
 * the file itself (cut back to its end), each later one in a new segment file named by its first
 * seq (a segment holds contiguous seqs, §4); the damaged bytes are copied to
 * `quarantine/<segment>-<offset>.bin` first, and the seqs they held become lost (lost-ranges.ts).
 * Every segment written gets a fresh index (§6).
 *
 * Crash safety: copies first (quarantine, new segments as `.tmp` files renamed in place from the
 * highest seq down), then the caller records the lost seqs, then the original is cut. Until the
 * cut, the original still covers only the seqs below the next segment's base, so a crash at any
 * point leaves a stream that reads as before or as after (and repair can run again).
 */
import { join } from "node:path";
import { CorruptError } from "../../errors.js";
import {
  INDEX_INTERVAL_BYTES,
  RECORD_BODY_BYTES_LIMIT,
  SEGMENT_HEADER_BYTES,
} from "../../format/constants.js";
import {
  encodeIndexEntries,
  encodeIndexHeader,
  type IndexEntry,
} from "../../format/index-entry.js";
import { DECODE_OK, decodeRecord, RecordView } from "../../format/record.js";
import { decodeSegmentHeader, encodeSegmentHeader } from "../../format/segment-header.js";
import { indexFileName, segmentFileName } from "../../format/segment-name.js";
import { readFully, writeFileAtomic, writeFully } from "../fs/file-ops.js";
import type { FileSystem } from "../fs/file-system.js";
import { findNextValidRecord } from "../recovery/resync.js";
import type { LostRange } from "../stream/lost-ranges.js";
import { QUARANTINE_DIR } from "../stream/stream-files.js";

/** A segment larger than this is not read into memory by repair. */
const SEGMENT_BYTES_REPAIR_MAX = 1024 * 1024 * 1024;

export interface Run {
  start: number;
  end: number;
  firstSeq: number;
  lastSeq: number;
  firstTimestampMs: number;
  lastTimestampMs: number;
  index: IndexEntry[];
}

export interface DamagedRange {
  offset: number;
  bytes: number;
  /** Seqs the range held (or that are missing after it), inclusive; empty when none. */
  lost: LostRange | undefined;
}

export interface SegmentScan {
  segment: string;
  baseSeq: number;
  size: number;
  headerOk: boolean;
  headerTimeMs: number;
  runs: Run[];
  damage: DamagedRange[];
}

/**
 * Scans `segment` of the stream in `dir`, whose records should be `baseSeq..lastSeq`. Never
 * changes the file.
 */
export async function scanSegment(
  fs: FileSystem,
  dir: string,
  baseSeq: number,
  lastSeq: number,
): Promise<SegmentScan> {
  const segment = segmentFileName(baseSeq);
  const file = await fs.open(join(dir, segment), "read");
  try {
    const size = await file.size();
    if (size > SEGMENT_BYTES_REPAIR_MAX) {
      throw new CorruptError(
        `${segment} is ${size} bytes; repair reads segments of at most ${SEGMENT_BYTES_REPAIR_MAX}`,
        { segment },
      );
    }
    const buf = Buffer.allocUnsafe(size);
    await readFully(file, buf, 0, size, 0);
    const header = decodeSegmentHeader(buf);
    const headerOk = typeof header !== "string";
    const scan: SegmentScan = {
      segment,
      baseSeq,
      size,
      headerOk,
      headerTimeMs: headerOk ? header.createdAtMs : 0,
      runs: [],
      damage: [],
    };
    const view = new RecordView();
    let at = headerOk ? header.headerBytes : SEGMENT_HEADER_BYTES;
    let expected = baseSeq;
    let run: Run | undefined;
    while (at < size && expected <= lastSeq) {
      if (decodeRecord(buf, at, size, expected, view, RECORD_BODY_BYTES_LIMIT) === DECODE_OK) {
        if (run === undefined) {
          run = {
            start: at,
            end: at,
            firstSeq: expected,
            lastSeq: expected,
            firstTimestampMs: view.timestampMs,
            lastTimestampMs: view.timestampMs,
            index: [],
          };
          scan.runs.push(run);
        }
        const last = run.index[run.index.length - 1];
        if (
          last === undefined ||
          at - run.start + SEGMENT_HEADER_BYTES >= last.offset + INDEX_INTERVAL_BYTES
        ) {
          // Offsets as they will be once the run starts right after a segment header.
          run.index.push({
            seq: expected,
            timestampMs: view.timestampMs,
            offset: at - run.start + SEGMENT_HEADER_BYTES,
          });
        }
        run.end = view.end;
        run.lastSeq = expected;
        run.lastTimestampMs = view.timestampMs;
        at = view.end;
        expected++;
        continue;
      }
      const hit = await findNextValidRecord(
        file,
        at + 1,
        size,
        expected - 1,
        RECORD_BODY_BYTES_LIMIT,
      );
      const until = hit?.offset ?? size;
      const lostTo = hit === undefined ? lastSeq : Math.min(hit.seq - 1, lastSeq);
      scan.damage.push({
        offset: at,
        bytes: until - at,
        lost: lostTo >= expected ? [expected, lostTo] : undefined,
      });
      run = undefined;
      if (hit === undefined) {
        expected = lastSeq + 1;
        break;
      }
      at = hit.offset;
      expected = hit.seq;
    }
    if (expected <= lastSeq) {
      // The file ends before the seqs it should hold (a lost tail, or the next segment missing).
      scan.damage.push({ offset: at, bytes: size - at, lost: [expected, lastSeq] });
    }
    return scan;
  } finally {
    await file.close();
  }
}

export interface SegmentRewrite {
  /** Files written: quarantined ranges and new segments. */
  quarantined: string[];
  segments: number[];
}

/**
 * Applies a scan: copies the damaged ranges to quarantine, writes runs after the first as new
 * segments (flushed, renamed into place highest first). Does not cut the original: `cutOriginal`
 * does, after the caller has stored the lost seqs.
 */
export async function writeRuns(
  fs: FileSystem,
  dir: string,
  scan: SegmentScan,
  tag: number,
  stamp: number,
): Promise<SegmentRewrite> {
  const source = await fs.open(join(dir, scan.segment), "read");
  const result: SegmentRewrite = { quarantined: [], segments: [] };
  try {
    const quarantine = join(dir, QUARANTINE_DIR);
    try {
      await fs.mkdir(quarantine);
    } catch {
      // exists
    }
    for (const range of scan.damage) {
      if (range.bytes <= 0) continue;
      const name = `${scan.segment}-${range.offset}.${stamp}.bin`;
      const bytes = Buffer.allocUnsafe(range.bytes);
      await readFully(source, bytes, 0, range.bytes, range.offset);
      await writeFileAtomic(fs, quarantine, name, bytes, true);
      result.quarantined.push(join(QUARANTINE_DIR, name));
    }
    // The first run stays in the original when it starts it; every other run gets a file.
    const later = startsFile(scan) ? scan.runs.slice(1) : scan.runs;
    const staged: Array<{ tmp: string; name: string; baseSeq: number }> = [];
    let previousTs = startsFile(scan) ? scan.runs[0]!.lastTimestampMs : scan.headerTimeMs;
    for (const run of later) {
      const name = segmentFileName(run.firstSeq);
      const tmp = `${name}.tmp`;
      const out = await fs.open(join(dir, tmp), "replace");
      try {
        const body = Buffer.allocUnsafe(run.end - run.start);
        await readFully(source, body, 0, body.byteLength, run.start);
        await writeFully(
          out,
          encodeSegmentHeader(run.firstSeq, Math.min(previousTs, run.firstTimestampMs), tag),
          0,
        );
        await writeFully(out, body, SEGMENT_HEADER_BYTES);
        await out.datasync();
      } finally {
        await out.close();
      }
      await writeIndex(fs, dir, run.firstSeq, run.index);
      staged.push({ tmp, name, baseSeq: run.firstSeq });
      previousTs = run.lastTimestampMs;
    }
    for (const { tmp, name, baseSeq } of staged.reverse()) {
      await fs.rename(join(dir, tmp), join(dir, name));
      result.segments.push(baseSeq);
    }
    await fs.syncDir(dir);
  } finally {
    await source.close();
  }
  return result;
}

/** Whether the first intact run starts the original file (so the file can keep it). */
function startsFile(scan: SegmentScan): boolean {
  const first = scan.runs[0];
  return (
    first !== undefined &&
    first.firstSeq === scan.baseSeq &&
    (first.start === SEGMENT_HEADER_BYTES || !scan.headerOk)
  );
}

/**
 * Cuts the original segment back to the end of its first run, with a header that checks out and
 * a fresh index; when no intact run starts it, the file is moved to quarantine whole.
 */
export async function cutOriginal(
  fs: FileSystem,
  dir: string,
  scan: SegmentScan,
  tag: number,
  stamp: number,
): Promise<string | undefined> {
  const first = scan.runs[0];
  const path = join(dir, scan.segment);
  if (first === undefined || !startsFile(scan)) {
    const moved = join(QUARANTINE_DIR, `${scan.segment}.${stamp}.whole`);
    await fs.rename(path, join(dir, moved));
    await fs.unlink(join(dir, indexFileName(scan.baseSeq))).catch(() => undefined);
    await fs.syncDir(dir);
    return moved;
  }
  const file = await fs.open(path, "write");
  try {
    if (!scan.headerOk) {
      await writeFully(
        file,
        encodeSegmentHeader(
          scan.baseSeq,
          Math.min(scan.headerTimeMs || first.firstTimestampMs, first.firstTimestampMs),
          tag,
        ),
        0,
      );
    }
    await file.truncate(first.end);
    await file.datasync();
  } finally {
    await file.close();
  }
  await writeIndex(fs, dir, scan.baseSeq, first.index);
  return undefined;
}

async function writeIndex(
  fs: FileSystem,
  dir: string,
  baseSeq: number,
  entries: IndexEntry[],
): Promise<void> {
  const bytes = Buffer.concat([encodeIndexHeader(baseSeq), encodeIndexEntries(entries)]);
  await writeFileAtomic(fs, dir, indexFileName(baseSeq), bytes, false);
}
