/**
 * Redoing the commit log at open (docs/format.md §14.5, §9 rows 26-33): before any stream is
 * scanned, every valid log record is written again into its stream's segment unless the segment
 * already holds those bytes there. After a process crash the segments hold everything (the page
 * cache survives), so redo only reads and compares; after a power loss it restores what the
 * segments lost. The work is bounded by the log's size, at most two log files.
 *
 * A log file is read front to back in chunks. Records of one stream in one chunk are contiguous
 * in its segment (its group commits follow each other), so each stream costs one read (and, if
 * the bytes differ, one write) per chunk, not one per record.
 */
import { join } from "node:path";
import {
  LOG_HEADER_BYTES,
  LOG_RECORD_HEADER_BYTES,
  RECORD_BODY_BYTES_LIMIT,
  RECORD_FLAG_COMMIT,
} from "../../format/constants.js";
import {
  decodeLogHeader,
  decodeLogRecordHeader,
  type LogRecordHeader,
} from "../../format/log-record.js";
import { DECODE_OK, decodeRecord, RecordView } from "../../format/record.js";
import { segmentFileName } from "../../format/segment-name.js";
import { readFully, writeFully } from "../fs/file-ops.js";
import type { FileHandle, FileSystem } from "../fs/file-system.js";
import { LOG_DIR } from "../journal/journal-directory.js";
import { logFileName, parseLogFileName } from "../write/commit-log.js";
import type { RecoveryReporter } from "./recovery-event.js";

/** Where a stream with a given id lives, and its name (for reports). */
export interface RedoTarget {
  dir: string;
  name: string;
}

export interface RedoResult {
  /** The log files found, in order; the next log file is numbered after the last. */
  fileSeqs: number[];
  /** Per stream id: the end of its last log record, in that segment (its last durable point). */
  durableEnds: Map<string, { segmentBaseSeq: number; end: number }>;
  /** Log records read and bytes written back into segments. */
  records: number;
  redoneBytes: number;
}

/** A chunk holds at least this much; it grows to hold one record whole. */
const CHUNK_BYTES = 4 * 1024 * 1024;

/** The log files in `journalDir/log`, in file-seq order (none if the directory is missing). */
export async function listLogFiles(fs: FileSystem, journalDir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await fs.readdir(join(journalDir, LOG_DIR));
  } catch {
    return [];
  }
  const seqs: number[] = [];
  for (const name of names) {
    const seq = parseLogFileName(name);
    if (seq !== undefined) seqs.push(seq);
  }
  return seqs.sort((a, b) => a - b);
}

export async function redoLog(
  fs: FileSystem,
  journalDir: string,
  fileSeqs: readonly number[],
  targets: ReadonlyMap<string, RedoTarget>,
  report: RecoveryReporter,
): Promise<RedoResult> {
  const result: RedoResult = {
    fileSeqs: [...fileSeqs],
    durableEnds: new Map(),
    records: 0,
    redoneBytes: 0,
  };
  const segments = new SegmentFiles(fs);
  try {
    for (const fileSeq of fileSeqs) {
      const path = join(journalDir, LOG_DIR, logFileName(fileSeq));
      const file = await fs.open(path, "read");
      try {
        await redoFile(file, fileSeq, targets, segments, result, report);
      } finally {
        await file.close();
      }
    }
  } finally {
    await segments.closeAll();
  }
  return result;
}

interface Run {
  streamId: string;
  segmentBaseSeq: number;
  offset: number;
  parts: Buffer[];
  bytes: number;
}

async function redoFile(
  file: FileHandle,
  fileSeq: number,
  targets: ReadonlyMap<string, RedoTarget>,
  segments: SegmentFiles,
  result: RedoResult,
  report: RecoveryReporter,
): Promise<void> {
  const name = `${LOG_DIR}/${logFileName(fileSeq)}`;
  const size = await file.size();
  const head = Buffer.allocUnsafe(LOG_HEADER_BYTES);
  const got = await readFully(file, head, 0, LOG_HEADER_BYTES, 0);
  const header = decodeLogHeader(head.subarray(0, got));
  if (typeof header === "string" || header.fileSeq !== fileSeq) {
    // A crash while starting the file leaves a torn header and no records: nothing lost.
    report({
      kind: size <= LOG_HEADER_BYTES ? "torn-tail" : "corrupt",
      path: name,
      bytes: size,
      message: `${name} has ${typeof header === "string" ? header : "the wrong file seq"}; none of its records were redone`,
    });
    return;
  }
  let position = LOG_HEADER_BYTES;
  while (position < size) {
    const length = Math.min(size - position, CHUNK_BYTES);
    let chunk = Buffer.allocUnsafe(length);
    let filled = await readFully(file, chunk, 0, length, position);
    const runs = new Runs();
    let at = 0;
    let stop: string | undefined;
    while (at < filled) {
      const record = decodeLogRecordHeader(chunk, at, filled);
      if (typeof record === "string") {
        if (record !== "incomplete" || position + at + LOG_RECORD_HEADER_BYTES > size) {
          stop = record;
          break;
        }
        break; // the header continues in the next chunk
      }
      const recordEnd = at + LOG_RECORD_HEADER_BYTES + record.bodyBytes;
      if (position + recordEnd > size) {
        stop = "a torn record body";
        break;
      }
      if (recordEnd > filled) {
        if (at > 0) break; // next chunk starts with it
        // One record larger than a chunk: read it whole.
        chunk = Buffer.allocUnsafe(recordEnd);
        filled = await readFully(file, chunk, 0, recordEnd, position);
      }
      const body = chunk.subarray(at + LOG_RECORD_HEADER_BYTES, recordEnd);
      const problem = checkBody(body);
      if (problem !== undefined) {
        stop = problem;
        break;
      }
      result.records++;
      if (targets.has(record.streamId)) {
        // Not the stream of a deleted id (row 30).
        const end = record.segmentOffset + record.bodyBytes;
        result.durableEnds.set(record.streamId, { segmentBaseSeq: record.segmentBaseSeq, end });
        runs.add(record, body);
      }
      at = recordEnd;
    }
    for (const run of runs.all) await redoRun(run, targets, segments, result, report);
    position += at;
    if (stop !== undefined) {
      const resumeAt = await findNextLogRecord(file, position + 1, size);
      if (resumeAt === undefined) {
        report({
          kind: "torn-tail",
          path: name,
          offset: position,
          bytes: size - position,
          message: `${name} ends with ${size - position} bytes of an unfinished write (${stop}) at offset ${position}; they were never acknowledged`,
        });
        return;
      }
      report({
        kind: "corrupt",
        path: name,
        offset: position,
        bytes: resumeAt - position,
        message: `${name} has ${resumeAt - position} damaged bytes at offset ${position} (${stop}); the records after them were redone, the damaged ones only if their segments hold them`,
      });
      position = resumeAt;
    } else if (at === 0) {
      break; // cannot happen: a chunk always holds at least one whole record or a stop
    }
  }
}

/** A log record's body is whole records with contiguous seqs, the last with COMMIT. */
function checkBody(body: Buffer): string | undefined {
  const view = new RecordView();
  let at = 0;
  let seq = 0;
  let flags = 0;
  while (at < body.byteLength) {
    const status = decodeRecord(body, at, body.byteLength, seq === 0 ? 0 : seq + 1, view);
    if (status !== DECODE_OK) return `a body record is bad (${view.reason})`;
    seq = view.seq;
    flags = view.flags;
    at = view.end;
  }
  return (flags & RECORD_FLAG_COMMIT) === 0 ? "a body that does not end an append" : undefined;
}

/** The records of one chunk, joined per stream where they follow each other in its segment. */
class Runs {
  readonly all: Run[] = [];
  private readonly last = new Map<string, Run>();

  add(record: LogRecordHeader, body: Buffer): void {
    const run = this.last.get(record.streamId);
    if (
      run !== undefined &&
      run.segmentBaseSeq === record.segmentBaseSeq &&
      run.offset + run.bytes === record.segmentOffset
    ) {
      run.parts.push(body);
      run.bytes += body.byteLength;
      return;
    }
    // A new segment (or the first record): a run of its own, applied after the stream's earlier ones.
    const next: Run = {
      streamId: record.streamId,
      segmentBaseSeq: record.segmentBaseSeq,
      offset: record.segmentOffset,
      parts: [body],
      bytes: body.byteLength,
    };
    this.all.push(next);
    this.last.set(record.streamId, next);
  }
}

/** Compares a run with its segment and writes it where the segment differs (row 27). */
async function redoRun(
  run: Run,
  targets: ReadonlyMap<string, RedoTarget>,
  segments: SegmentFiles,
  result: RedoResult,
  report: RecoveryReporter,
): Promise<void> {
  const target = targets.get(run.streamId)!;
  const segment = segmentFileName(run.segmentBaseSeq);
  const file = await segments.open(join(target.dir, segment));
  if (file === undefined) return; // released by retention, trim or eviction since (row 31)
  const held = Buffer.allocUnsafe(run.bytes);
  const got = await readFully(file, held, 0, run.bytes, run.offset);
  const wanted = run.parts.length === 1 ? run.parts[0]! : Buffer.concat(run.parts, run.bytes);
  if (got === run.bytes && held.equals(wanted)) return;
  await writeFully(file, wanted, run.offset);
  // Synced at once (this is rare: only after a power loss), so deleting the log later cannot
  // lose it, whichever segment of the stream it went to.
  await file.datasync();
  result.redoneBytes += run.bytes;
  report({
    kind: "redone",
    stream: target.name,
    segment,
    offset: run.offset,
    bytes: run.bytes,
    message: `wrote ${run.bytes} acknowledged bytes at offset ${run.offset} of ${segment} again from the commit log (the segment had lost them)`,
  });
}

/** The next position in `[from, to)` where a valid log record starts, or undefined. */
async function findNextLogRecord(
  file: FileHandle,
  from: number,
  to: number,
): Promise<number | undefined> {
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  for (let start = from; start + LOG_RECORD_HEADER_BYTES <= to; ) {
    const got = await readFully(file, chunk, 0, Math.min(CHUNK_BYTES, to - start), start);
    const last = got - LOG_RECORD_HEADER_BYTES;
    for (let i = 0; i <= last; i++) {
      // Cheap tests first: the kind and reserved bytes, then the header's CRC.
      if (
        chunk[i + 28] !== 1 ||
        chunk[i + 29] !== 0 ||
        chunk[i + 30] !== 0 ||
        chunk[i + 31] !== 0
      ) {
        continue;
      }
      const header = decodeLogRecordHeader(chunk, i, got);
      if (typeof header === "string") continue;
      const bodyBytes = header.bodyBytes;
      if (
        bodyBytes > RECORD_BODY_BYTES_LIMIT ||
        start + i + LOG_RECORD_HEADER_BYTES + bodyBytes > to
      )
        continue;
      const body = Buffer.allocUnsafe(bodyBytes);
      await readFully(file, body, 0, bodyBytes, start + i + LOG_RECORD_HEADER_BYTES);
      if (checkBody(body) === undefined) return start + i;
    }
    if (got < CHUNK_BYTES) break;
    start += last + 1;
  }
  return undefined;
}

/** Segment files opened for redo, kept open while it runs (a stream's runs come chunk after chunk). */
class SegmentFiles {
  private readonly open_ = new Map<string, FileHandle | undefined>();

  constructor(private readonly fs: FileSystem) {}

  async open(path: string): Promise<FileHandle | undefined> {
    if (this.open_.has(path)) return this.open_.get(path);
    let file: FileHandle | undefined;
    try {
      file = await this.fs.open(path, "write");
    } catch {
      file = undefined;
    }
    if (this.open_.size >= 256) await this.closeAll();
    this.open_.set(path, file);
    return file;
  }

  async closeAll(): Promise<void> {
    for (const file of this.open_.values()) await file?.close().catch(() => undefined);
    this.open_.clear();
  }
}
