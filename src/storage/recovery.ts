/**
 * Opening one stream after a clean close or a crash (docs/format.md §9). Only the active segment
 * is read, and only after its checkpoint when the checkpoint checks out, so the time taken does
 * not grow with the size of the stream. The writer then cuts the tail back to the last complete
 * atomic append and flushes the cut before anything new is written; a read-only opener changes
 * nothing and treats an incomplete tail as not yet written.
 */
import { join } from "node:path";
import { isErrnoCode } from "../errors.js";
import { type Checkpoint, decodeCheckpoint } from "../format/checkpoint.js";
import {
  CHECKPOINT_BYTES,
  INDEX_SUFFIX,
  RECORD_BODY_BYTES_LIMIT,
  RECORD_FLAG_COMMIT,
  SEGMENT_HEADER_BYTES,
} from "../format/constants.js";
import { DECODE_INCOMPLETE, DECODE_OK, RecordView } from "../format/record.js";
import { decodeSegmentHeader } from "../format/segment-header.js";
import { parseSegmentFileName, segmentFileName } from "../format/segment-name.js";
import { readFully, readSmallFile, removeFile, writeFully } from "./file-ops.js";
import type { FileHandle, FileSystem } from "./file-system.js";
import { loadIndexFile } from "./index-file.js";
import type { RecoveryReporter } from "./recovery-event.js";
import { findNextValidRecord } from "./resync.js";
import type { SegmentInfo } from "./segment-list.js";
import { SegmentScanner } from "./segment-scanner.js";
import { SparseIndex } from "./sparse-index.js";
import {
  CHECKPOINT_FILE,
  QUARANTINE_DIR,
  STREAM_DESCRIPTOR_FILE,
  TMP_SUFFIX,
} from "./stream-files.js";

const SCAN_CHUNK_BYTES = 1024 * 1024;
const KNOWN_NAMES = new Set([STREAM_DESCRIPTOR_FILE, CHECKPOINT_FILE, QUARANTINE_DIR, "consumers"]);

/** Where the committed data of the active segment ends, and what its last record was. */
export interface TailState {
  lastSeq: number;
  lastTimestampMs: number;
  /** Start of the last record in the active segment; 0 when it holds none. */
  lastRecordOffset: number;
  lastRecordCrc: number;
}

export interface RecoverStreamOptions {
  fs: FileSystem;
  dir: string;
  name: string;
  tag: number;
  readOnly: boolean;
  report: RecoveryReporter;
  /** Creates a fresh active segment when none is usable (writer only). */
  createSegment: (baseSeq: number) => Promise<void>;
}

export interface RecoveredStream {
  segments: SegmentInfo[];
  activeIndex: SparseIndex;
  tail: TailState;
  /** Bytes decoded to find the tail (for the recovery benchmark). */
  scannedBytes: number;
}

interface SegmentProbe {
  kind: "ok" | "foreign" | "torn-header" | "missing";
  size: number;
  createdAtMs: number;
  reason: string;
}

export async function recoverStream(options: RecoverStreamOptions): Promise<RecoveredStream> {
  const { fs, dir, name, readOnly, report } = options;
  const bases: number[] = [];
  for (const file of await fs.readdir(dir)) {
    const base = parseSegmentFileName(file);
    if (base !== undefined) bases.push(base);
    else if (file.endsWith(TMP_SUFFIX)) {
      if (!readOnly) {
        await removeFile(fs, join(dir, file));
        report({
          kind: "removed-temp",
          stream: name,
          path: file,
          message: `removed ${file}, left by an interrupted write`,
        });
      }
    } else if (
      !KNOWN_NAMES.has(file) &&
      !(file.endsWith(INDEX_SUFFIX) && /^\d{20}\.idx$/.test(file))
    ) {
      report({
        kind: "unknown-file",
        stream: name,
        path: file,
        message: `${file} is not a tidemark file; left alone`,
      });
    }
  }
  bases.sort((a, b) => a - b);

  const checkpoint = await readCheckpoint(options);
  let probe: SegmentProbe | undefined;
  while (bases.length > 0) {
    const base = bases[bases.length - 1]!;
    probe = await probeSegment(options, base);
    if (probe.kind === "ok") break;
    const segment = segmentFileName(base);
    if (probe.kind === "foreign") {
      const moved = readOnly ? undefined : await moveToQuarantine(fs, dir, segment);
      report({
        kind: "corrupt",
        stream: name,
        segment,
        ...(moved === undefined ? {} : { path: moved }),
        message: `${segment} ${probe.reason}; not used${moved === undefined ? "" : `, moved to ${moved}`}`,
      });
    } else if (probe.kind === "torn-header" && !readOnly) {
      await fs.unlink(join(dir, segment));
      report({
        kind: "removed-segment",
        stream: name,
        segment,
        bytes: probe.size,
        message: `${segment} had ${probe.reason} and no records (a crash while rotating); removed`,
      });
    }
    bases.pop();
    probe = undefined;
  }

  const lastBase = bases[bases.length - 1] ?? 0;
  if (checkpoint !== undefined && checkpoint.segmentBaseSeq > lastBase) {
    // Row 13: the checkpoint proves records up to its lastSeq existed. Their seqs are never
    // handed out again: a new segment starts after them, and reads report the gap.
    report({
      kind: "corrupt",
      stream: name,
      segment: segmentFileName(checkpoint.segmentBaseSeq),
      firstSeq: checkpoint.segmentBaseSeq,
      lastSeq: checkpoint.lastSeq,
      message:
        `segment ${segmentFileName(checkpoint.segmentBaseSeq)} named by the checkpoint is missing; ` +
        `records ${checkpoint.segmentBaseSeq}..${checkpoint.lastSeq} (at least) are lost`,
    });
    if (!readOnly) {
      const base = Math.max(checkpoint.lastSeq + 1, lastBase + 1);
      await options.createSegment(base);
      bases.push(base);
      probe = await probeSegment(options, base);
    }
  } else if (bases.length === 0) {
    report({
      kind: "corrupt",
      stream: name,
      message: "the stream has no usable segment; it starts again, empty, at seq 1",
    });
  }
  if (bases.length === 0 || probe === undefined) {
    if (readOnly) return emptyRecovery(1);
    await options.createSegment(1);
    bases.push(1);
    probe = await probeSegment(options, 1);
  }

  const activeBase = bases[bases.length - 1]!;
  const sealed = await Promise.all(
    bases.slice(0, -1).map(async (baseSeq) => ({
      baseSeq,
      bytes: (await fs.stat(join(dir, segmentFileName(baseSeq)))).size,
    })),
  );
  const active = await recoverActiveSegment(options, activeBase, probe, checkpoint);
  return {
    segments: [...sealed, { baseSeq: activeBase, bytes: active.end }],
    activeIndex: active.index,
    tail: active.tail,
    scannedBytes: active.scannedBytes,
  };
}

function emptyRecovery(baseSeq: number): RecoveredStream {
  return {
    segments: [{ baseSeq, bytes: SEGMENT_HEADER_BYTES }],
    activeIndex: new SparseIndex(),
    tail: { lastSeq: baseSeq - 1, lastTimestampMs: 0, lastRecordOffset: 0, lastRecordCrc: 0 },
    scannedBytes: 0,
  };
}

async function readCheckpoint(options: RecoverStreamOptions): Promise<Checkpoint | undefined> {
  let buf: Buffer;
  try {
    buf = await readSmallFile(options.fs, join(options.dir, CHECKPOINT_FILE), CHECKPOINT_BYTES * 4);
  } catch (err) {
    if (isErrnoCode(err, "ENOENT")) return undefined;
    buf = Buffer.alloc(0);
  }
  const checkpoint = decodeCheckpoint(buf);
  if (checkpoint === undefined) {
    options.report({
      kind: "checkpoint-ignored",
      stream: options.name,
      message: "the checkpoint is damaged; the active segment is scanned in full",
    });
  }
  return checkpoint;
}

async function probeSegment(options: RecoverStreamOptions, baseSeq: number): Promise<SegmentProbe> {
  const path = join(options.dir, segmentFileName(baseSeq));
  let file: FileHandle;
  try {
    file = await options.fs.open(path, "read");
  } catch (err) {
    if (isErrnoCode(err, "ENOENT"))
      return { kind: "missing", size: 0, createdAtMs: 0, reason: "is missing" };
    throw err;
  }
  try {
    const size = await file.size();
    const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
    await readFully(file, buf, 0, SEGMENT_HEADER_BYTES, 0);
    const header = decodeSegmentHeader(buf);
    if (typeof header === "string") {
      const hit = await findNextValidRecord(
        file,
        SEGMENT_HEADER_BYTES,
        size,
        baseSeq - 1,
        RECORD_BODY_BYTES_LIMIT,
      );
      if (hit === undefined)
        return { kind: "torn-header", size, createdAtMs: 0, reason: `a bad header (${header})` };
      options.report({
        kind: "corrupt",
        stream: options.name,
        segment: segmentFileName(baseSeq),
        offset: 0,
        bytes: SEGMENT_HEADER_BYTES,
        message: `${segmentFileName(baseSeq)} has a bad header (${header}); its records are intact and kept`,
      });
      return { kind: "ok", size, createdAtMs: 0, reason: "" };
    }
    if (header.baseSeq !== baseSeq) {
      return {
        kind: "foreign",
        size,
        createdAtMs: 0,
        reason: `says it starts at seq ${header.baseSeq}`,
      };
    }
    if (header.streamTag !== options.tag >>> 0) {
      return { kind: "foreign", size, createdAtMs: 0, reason: "belongs to another stream" };
    }
    return { kind: "ok", size, createdAtMs: header.createdAtMs, reason: "" };
  } finally {
    await file.close();
  }
}

interface ActiveRecovery {
  end: number;
  tail: TailState;
  index: SparseIndex;
  scannedBytes: number;
}

async function recoverActiveSegment(
  options: RecoverStreamOptions,
  baseSeq: number,
  probe: SegmentProbe,
  checkpoint: Checkpoint | undefined,
): Promise<ActiveRecovery> {
  const { fs, dir, name, readOnly, report } = options;
  const segment = segmentFileName(baseSeq);
  const file = await fs.open(join(dir, segment), readOnly ? "read" : "write");
  try {
    const size = await file.size();
    const index = new SparseIndex();
    let tail: TailState = {
      lastSeq: baseSeq - 1,
      lastTimestampMs: probe.createdAtMs,
      lastRecordOffset: 0,
      lastRecordCrc: 0,
    };
    let start = SEGMENT_HEADER_BYTES;
    if (checkpoint !== undefined && checkpoint.segmentBaseSeq === baseSeq) {
      if (await checkpointMatches(file, checkpoint, size)) {
        start = checkpoint.endOffset;
        tail = {
          lastSeq: checkpoint.lastSeq,
          lastTimestampMs: checkpoint.lastTimestampMs,
          lastRecordOffset: checkpoint.lastRecordOffset,
          lastRecordCrc: checkpoint.lastRecordCrc,
        };
        index.load((await loadIndexFile(fs, dir, baseSeq)).filter((entry) => entry.offset < start));
      } else {
        report({
          kind: "checkpoint-ignored",
          stream: name,
          segment,
          message: "the checkpoint does not match the data; the active segment is scanned in full",
        });
      }
    }

    const scanner = new SegmentScanner(
      file,
      start,
      size,
      SCAN_CHUNK_BYTES,
      RECORD_BODY_BYTES_LIMIT,
    );
    const view = new RecordView();
    let end = start;
    let pending = tail;
    for (;;) {
      const at = scanner.position;
      const status = scanner.decode(pending.lastSeq + 1, view);
      if (status === DECODE_OK) {
        const recordEnd = at + (view.end - view.start);
        index.offer(view.seq, view.timestampMs, at);
        pending = {
          lastSeq: view.seq,
          lastTimestampMs: Math.max(view.timestampMs, pending.lastTimestampMs),
          lastRecordOffset: at,
          lastRecordCrc: scanner.buffer.readUInt32LE(view.start),
        };
        if ((view.flags & RECORD_FLAG_COMMIT) !== 0) {
          tail = pending;
          end = recordEnd;
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

    if (end < size && !readOnly) {
      await cutTail(options, file, segment, end, size, scanner.position, tail.lastSeq);
    }
    return { end, tail, index, scannedBytes: size - start };
  } finally {
    await file.close();
  }
}

async function checkpointMatches(
  file: FileHandle,
  checkpoint: Checkpoint,
  size: number,
): Promise<boolean> {
  if (checkpoint.endOffset > size || checkpoint.endOffset < SEGMENT_HEADER_BYTES) return false;
  if (checkpoint.lastRecordOffset === 0) {
    return (
      checkpoint.endOffset === SEGMENT_HEADER_BYTES &&
      checkpoint.lastSeq === checkpoint.segmentBaseSeq - 1
    );
  }
  const length = checkpoint.endOffset - checkpoint.lastRecordOffset;
  if (length <= 0 || length > RECORD_BODY_BYTES_LIMIT) return false;
  const scanner = new SegmentScanner(
    file,
    checkpoint.lastRecordOffset,
    checkpoint.endOffset,
    length,
    RECORD_BODY_BYTES_LIMIT,
  );
  await scanner.fill(length);
  const view = new RecordView();
  if (scanner.decode(checkpoint.lastSeq, view) !== DECODE_OK) return false;
  return (
    view.end - view.start === length &&
    scanner.buffer.readUInt32LE(view.start) === checkpoint.lastRecordCrc &&
    (view.flags & RECORD_FLAG_COMMIT) !== 0
  );
}

/**
 * Cuts the active segment back to `end` (rows 3-7). When intact records sit behind the damage,
 * they may have been acknowledged, so the cut bytes are saved to quarantine first.
 */
async function cutTail(
  options: RecoverStreamOptions,
  file: FileHandle,
  segment: string,
  end: number,
  size: number,
  stoppedAt: number,
  lastSeq: number,
): Promise<void> {
  const { fs, dir, name, report } = options;
  const bytes = size - end;
  const hit = await findNextValidRecord(
    file,
    stoppedAt + 1,
    size,
    lastSeq,
    RECORD_BODY_BYTES_LIMIT,
  );
  if (hit === undefined) {
    report({
      kind: "torn-tail",
      stream: name,
      segment,
      offset: end,
      bytes,
      message: `cut ${bytes} bytes after the last complete append at offset ${end} of ${segment}`,
    });
  } else {
    const quarantine = await quarantineDir(fs, dir);
    const saved = join(quarantine, `${segment}-${end}.bin`);
    const copy = Buffer.allocUnsafe(bytes);
    const got = await readFully(file, copy, 0, bytes, end);
    const out = await fs.open(saved, "replace");
    try {
      await writeFully(out, copy.subarray(0, got), 0);
      await out.datasync();
    } finally {
      await out.close();
    }
    await fs.syncDir(quarantine);
    await fs.syncDir(dir);
    report({
      kind: "corrupt",
      stream: name,
      segment,
      offset: end,
      bytes,
      firstSeq: lastSeq + 1,
      path: saved,
      message:
        `damaged data at offset ${stoppedAt} of ${segment} with intact records behind it ` +
        `(from seq ${hit.seq}); the log now ends at seq ${lastSeq} and the ${bytes} bytes cut ` +
        `were saved to ${saved}`,
    });
  }
  await file.truncate(end);
  await file.datasync();
}

async function quarantineDir(fs: FileSystem, dir: string): Promise<string> {
  const quarantine = join(dir, QUARANTINE_DIR);
  try {
    await fs.mkdir(quarantine);
  } catch (err) {
    if (!isErrnoCode(err, "EEXIST")) throw err;
  }
  return quarantine;
}

/** Moves a file that must not be used out of the way, so new segments never collide with it. */
async function moveToQuarantine(fs: FileSystem, dir: string, file: string): Promise<string> {
  const target = join(await quarantineDir(fs, dir), `${file}.${Date.now()}`);
  await fs.rename(join(dir, file), target);
  await fs.syncDir(dir);
  return target;
}
