/**
 * Opening one stream after a clean close or a crash (docs/format.md §9). Only the active segment
 * is read, and only after its checkpoint when the checkpoint checks out, so the time taken does
 * not grow with the size of the stream. The writer then cuts the tail back to the last complete
 * atomic append and flushes the cut before anything new is written; a read-only opener changes
 * nothing and treats an incomplete tail as not yet written.
 */
import { join } from "node:path";
import { isErrnoCode } from "../../errors.js";
import { type Checkpoint, decodeCheckpoint } from "../../format/checkpoint.js";
import {
  CHECKPOINT_BYTES,
  INDEX_SUFFIX,
  RECORD_BODY_BYTES_LIMIT,
  SEGMENT_HEADER_BYTES,
} from "../../format/constants.js";
import { decodeSegmentHeader } from "../../format/segment-header.js";
import { parseSegmentFileName, segmentFileName } from "../../format/segment-name.js";
import { readFully, readSmallFile, removeFile } from "../fs/file-ops.js";
import type { FileHandle, FileSystem } from "../fs/file-system.js";
import { SparseIndex } from "../index/sparse-index.js";
import type { SegmentInfo } from "../stream/segment-list.js";
import {
  CHECKPOINT_FILE,
  QUARANTINE_DIR,
  STREAM_DESCRIPTOR_FILE,
  TMP_SUFFIX,
} from "../stream/stream-files.js";
import { cutTail, moveToQuarantine } from "./quarantine.js";
import type { RecoveryReporter } from "./recovery-event.js";
import { findNextValidRecord } from "./resync.js";
import { scanTail, type TailState } from "./tail-scan.js";

const KNOWN_NAMES = new Set([STREAM_DESCRIPTOR_FILE, CHECKPOINT_FILE, QUARANTINE_DIR, "consumers"]);

/**
 * Where the active segment's unsynced region starts (§9 row 29), if it is known: the end of the
 * stream's last commit log record in it; or, when the log was read and holds no record of the
 * stream, the end its checkpoint names. A stream's bytes leave the log only once a §14.4
 * checkpoint has synced its segment, after which the stream writes its §7 checkpoint: so with
 * none of its records left in the log, nothing it wrote since that checkpoint was acknowledged.
 * (Only the report depends on it: damage is cut, and saved to quarantine, either way.)
 */
function unsyncedStart(
  options: RecoverStreamOptions,
  activeBase: number,
  active: { checkpointEnd?: number },
): number | undefined {
  const { durableEnd } = options;
  if (durableEnd !== undefined) {
    return durableEnd.segmentBaseSeq === activeBase ? durableEnd.end : undefined;
  }
  return options.logRead === true ? active.checkpointEnd : undefined;
}

/** The end of a stream's last commit log record: what lies past it was never made durable. */
export interface DurableEnd {
  segmentBaseSeq: number;
  end: number;
}

export interface RecoverStreamOptions {
  /** From the commit log (log-redo.ts), when it held records of this stream. */
  durableEnd?: DurableEnd | undefined;
  /** The journal's commit log was read at this open (it had files), whether or not it held
   * records of this stream. */
  logRead?: boolean;
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
  /** The active segment, open for writing (writer only): the stream writer takes it over. */
  activeFile: FileHandle | undefined;
  /** The active segment's header time (0 when its header is damaged). */
  activeCreatedAtMs: number;
}

interface SegmentProbe {
  kind: "ok" | "foreign" | "torn-header" | "missing";
  size: number;
  createdAtMs: number;
  reason: string;
  /** Open (read-write for a writer) when `kind` is "ok"; the caller closes it. */
  file?: FileHandle;
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
  const file = probe.file!;
  try {
    const active = await scanTail(options, file, activeBase, probe.createdAtMs, checkpoint);
    if (active.end < active.size && !readOnly) {
      const unsyncedFrom = unsyncedStart(options, activeBase, active);
      await cutTail(options, file, segmentFileName(activeBase), active, unsyncedFrom);
    }
    if (readOnly) await file.close();
    return {
      segments: [
        ...sealed,
        { baseSeq: activeBase, bytes: active.end, createdAtMs: probe.createdAtMs },
      ],
      activeIndex: active.index,
      tail: active.tail,
      scannedBytes: active.scannedBytes,
      activeFile: readOnly ? undefined : file,
      activeCreatedAtMs: probe.createdAtMs,
    };
  } catch (err) {
    await file.close().catch(() => undefined);
    throw err;
  }
}

function emptyRecovery(baseSeq: number): RecoveredStream {
  return {
    segments: [{ baseSeq, bytes: SEGMENT_HEADER_BYTES }],
    activeIndex: new SparseIndex(),
    tail: { lastSeq: baseSeq - 1, lastTimestampMs: 0, lastRecordOffset: 0, lastRecordCrc: 0 },
    scannedBytes: 0,
    activeFile: undefined,
    activeCreatedAtMs: 0,
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

/** Opens a segment and checks its header; the file stays open when it can be used. */
async function probeSegment(options: RecoverStreamOptions, baseSeq: number): Promise<SegmentProbe> {
  const segment = segmentFileName(baseSeq);
  let file: FileHandle;
  try {
    file = await options.fs.open(join(options.dir, segment), options.readOnly ? "read" : "write");
  } catch (err) {
    if (isErrnoCode(err, "ENOENT")) {
      return { kind: "missing", size: 0, createdAtMs: 0, reason: "is missing" };
    }
    throw err;
  }
  let probe: SegmentProbe;
  try {
    probe = await checkHeader(options, file, baseSeq, segment);
  } catch (err) {
    await file.close();
    throw err;
  }
  if (probe.kind === "ok") return { ...probe, file };
  await file.close();
  return probe;
}

async function checkHeader(
  options: RecoverStreamOptions,
  file: FileHandle,
  baseSeq: number,
  segment: string,
): Promise<SegmentProbe> {
  const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
  await readFully(file, buf, 0, SEGMENT_HEADER_BYTES, 0);
  const header = decodeSegmentHeader(buf);
  // The size is only needed when the header is bad (and `size` is unused otherwise).
  const size = typeof header === "string" ? await file.size() : -1;
  if (typeof header === "string") {
    const hit = await findNextValidRecord(
      file,
      SEGMENT_HEADER_BYTES,
      size,
      baseSeq - 1,
      RECORD_BODY_BYTES_LIMIT,
    );
    if (hit === undefined) {
      return { kind: "torn-header", size, createdAtMs: 0, reason: `a bad header (${header})` };
    }
    options.report({
      kind: "corrupt",
      stream: options.name,
      segment,
      offset: 0,
      bytes: SEGMENT_HEADER_BYTES,
      message: `${segment} has a bad header (${header}); its records are intact and kept`,
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
}
