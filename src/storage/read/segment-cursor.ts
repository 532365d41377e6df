/**
 * Reading seqs `from..to` out of one segment. `pull()` is synchronous: it decodes from the chunk
 * in memory and returns a record, or says that I/O is needed (`io()` then refills, follows a
 * segment that grew, or turns damage into a `CorruptError`). So a read costs one promise per
 * chunk, not per record, and the CRC and seq of every record are checked on the way.
 */
import { join } from "node:path";
import { CorruptError, CursorExpiredError, fromSystemError, isErrnoCode } from "../../errors.js";
import { RECORD_BODY_BYTES_LIMIT, SEGMENT_HEADER_BYTES } from "../../format/constants.js";
import { DECODE_INCOMPLETE, DECODE_OK, RecordView } from "../../format/record.js";
import { decodeSegmentHeader } from "../../format/segment-header.js";
import { segmentFileName } from "../../format/segment-name.js";
import { readFully } from "../fs/file-ops.js";
import type { FileHandle, FileSystem } from "../fs/file-system.js";
import type { IndexCache } from "../index/index-cache.js";
import type { SparseIndex } from "../index/sparse-index.js";
import { findNextValidRecord } from "../recovery/resync.js";
import type { StreamState } from "../stream/stream-state.js";
import { type ScanBuffer, SegmentScanner } from "./segment-scanner.js";

/** One record as read back: `payload` holds exactly the bytes appended. */
export interface JournalRecord {
  seq: number;
  /** Milliseconds since the epoch when the record was appended. */
  timestamp: number;
  payload: Uint8Array;
  /** The attribute block given at append, if any. */
  attributes?: Uint8Array;
}

export interface ReaderContext {
  fs: FileSystem;
  indexCache: IndexCache;
  readChunkBytes: number;
}

/** `pull()` needs `io()` before it can go on. */
export const NEED_IO = 1;
/** The segment has nothing more for this read. */
export const SEGMENT_DONE = 2;

type Pending =
  | { kind: "fill"; bytes: number }
  | { kind: "grow" }
  | { kind: "damage"; reason: string };

export interface SegmentRange {
  baseSeq: number;
  /** First seq wanted. */
  from: number;
  /** Last seq wanted from this segment. */
  to: number;
  /** Most records to return. */
  limit: number;
  fromTimeMs: number | undefined;
  toTimeMs: number | undefined;
}

export class SegmentCursor {
  /** Set when a record past `toTimeMs` was seen: the whole read is over. */
  pastTimeEnd = false;
  private readonly view = new RecordView();
  private readonly segment: string;
  private expected: number;
  private count = 0;
  private done = false;
  private pending: Pending | undefined;

  private constructor(
    private readonly ctx: ReaderContext,
    private readonly state: StreamState,
    private readonly range: SegmentRange,
    private readonly file: FileHandle,
    private scanner: SegmentScanner,
    private end: number,
    startSeq: number,
    private readonly scratch: ScanBuffer | undefined,
  ) {
    this.segment = segmentFileName(range.baseSeq);
    this.expected = startSeq;
  }

  static async open(
    ctx: ReaderContext,
    state: StreamState,
    range: SegmentRange,
    scratch?: ScanBuffer,
  ): Promise<SegmentCursor> {
    const segment = segmentFileName(range.baseSeq);
    let file: FileHandle;
    try {
      file = await ctx.fs.open(join(state.dir, segment), "read");
    } catch (err) {
      if (!isErrnoCode(err, "ENOENT")) {
        throw fromSystemError(err, `open segment ${segment}`, { stream: state.name, segment });
      }
      if (range.from < state.firstSeq) throw cursorExpired(state, range.from);
      throw new CorruptError(
        `segment ${segment} of stream ${JSON.stringify(state.name)} is missing; ` +
          `seqs ${range.baseSeq}..${range.to} are lost`,
        {
          stream: state.name,
          segment,
          firstSeqLost: range.baseSeq,
          lastSeqLost: range.to,
          resumeAfter: range.to,
        },
      );
    }
    try {
      const end = committedEnd(state, range.baseSeq);
      const start = await startingPoint(ctx, state, range, file, end);
      const scanner = new SegmentScanner(
        file,
        start.offset,
        end,
        ctx.readChunkBytes,
        RECORD_BODY_BYTES_LIMIT,
        scratch,
      );
      return new SegmentCursor(ctx, state, range, file, scanner, end, start.seq, scratch);
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  /** The next record, or `NEED_IO`, or `SEGMENT_DONE`. Never blocks. */
  pull(): JournalRecord | typeof NEED_IO | typeof SEGMENT_DONE {
    if (this.done) return SEGMENT_DONE;
    if (this.pending !== undefined) return NEED_IO;
    const { scanner, view, range } = this;
    for (;;) {
      const status = scanner.decode(this.expected, view);
      if (status === DECODE_OK) {
        scanner.advance(view);
        this.expected++;
        if (view.seq < range.from) continue;
        if (range.fromTimeMs !== undefined && view.timestampMs < range.fromTimeMs) {
          if (view.seq === range.to) this.done = true;
          if (this.done) return SEGMENT_DONE;
          continue;
        }
        if (range.toTimeMs !== undefined && view.timestampMs > range.toTimeMs) {
          this.pastTimeEnd = true;
          this.done = true;
          return SEGMENT_DONE;
        }
        if (view.seq === range.to || ++this.count === range.limit) this.done = true;
        return toRecord(scanner.buffer, view);
      }
      if (status === DECODE_INCOMPLETE && !scanner.exhausted) {
        this.pending = { kind: "fill", bytes: view.bytesNeeded };
      } else if (status === DECODE_INCOMPLETE) {
        this.pending = { kind: "grow" };
      } else {
        this.pending = { kind: "damage", reason: view.reason };
      }
      return NEED_IO;
    }
  }

  /** Does the I/O `pull()` asked for; throws `CorruptError` for damage it cannot step over. */
  async io(): Promise<void> {
    const pending = this.pending;
    this.pending = undefined;
    if (pending === undefined) return;
    if (pending.kind === "fill") {
      await this.scanner.fill(pending.bytes);
      return;
    }
    if (pending.kind === "grow") {
      // The range ended early. While this read ran the segment may have grown (it was active and
      // more was committed) or been sealed; otherwise records are missing.
      const grown = committedEnd(this.state, this.range.baseSeq);
      if (grown > this.end) {
        this.end = grown;
        this.scanner = new SegmentScanner(
          this.file,
          this.scanner.position,
          grown,
          this.ctx.readChunkBytes,
          RECORD_BODY_BYTES_LIMIT,
          this.scratch,
        );
        return;
      }
    }
    const at = this.scanner.position;
    if (pending.kind === "damage" && this.expected < this.range.from) {
      // Damage before the first wanted record (the scan started at an earlier index entry):
      // step over it if the wanted record is intact.
      const hit = await findNextValidRecord(
        this.file,
        at + 1,
        this.end,
        this.expected - 1,
        RECORD_BODY_BYTES_LIMIT,
      );
      if (hit !== undefined && hit.seq <= this.range.from) {
        this.scanner.seek(hit.offset);
        this.expected = hit.seq;
        return;
      }
    }
    throw await this.damage(at, pending.kind === "damage" ? pending.reason : "end of data");
  }

  close(): Promise<void> {
    return this.file.close();
  }

  private async damage(offset: number, reason: string): Promise<CorruptError> {
    const name = JSON.stringify(this.state.name);
    const endOfData = offset >= this.end;
    const hit = endOfData
      ? undefined
      : await findNextValidRecord(
          this.file,
          offset + 1,
          this.end,
          this.expected - 1,
          RECORD_BODY_BYTES_LIMIT,
        );
    const lastLost =
      hit === undefined ? lastSeqOfSegment(this.state, this.range.baseSeq) : hit.seq - 1;
    const bytes = (hit?.offset ?? this.end) - offset;
    const resume = lastLost >= this.state.lastSeq ? {} : { resumeAfter: lastLost };
    const message = endOfData
      ? `stream ${name}: ${this.segment} ends at seq ${this.expected - 1} but the stream continues ` +
        `at seq ${lastLost + 1}; seqs ${this.expected}..${lastLost} are missing (a segment file was lost)`
      : `stream ${name}: ${reason} at offset ${offset} of ${this.segment}; ` +
        `seqs ${this.expected}..${lastLost} cannot be read (${bytes} bytes)` +
        (hit === undefined ? "" : `; intact records resume at seq ${hit.seq}`);
    return new CorruptError(message, {
      stream: this.state.name,
      segment: this.segment,
      offset,
      bytes,
      firstSeqLost: this.expected,
      lastSeqLost: lastLost,
      ...resume,
    });
  }
}

export function cursorExpired(state: StreamState, seq: number): CursorExpiredError {
  return new CursorExpiredError(
    `seq ${seq} of stream ${JSON.stringify(state.name)} is no longer retained; ` +
      `the first retained seq is ${state.firstSeq}`,
    state.firstSeq,
    { stream: state.name },
  );
}

/** The sparse index of a segment, with any deferred entries loaded. */
export async function indexOf(
  ctx: ReaderContext,
  state: StreamState,
  baseSeq: number,
): Promise<SparseIndex> {
  const index =
    state.segments.active.baseSeq === baseSeq
      ? state.activeIndex
      : await ctx.indexCache.get(state.dir, baseSeq);
  await index.ready();
  return index;
}

/** Bytes of a segment that are committed now (the active segment grows). */
function committedEnd(state: StreamState, baseSeq: number): number {
  const info = state.segments.at(state.segments.indexOfSeq(baseSeq));
  return info !== undefined && info.baseSeq === baseSeq ? info.bytes : 0;
}

function lastSeqOfSegment(state: StreamState, baseSeq: number): number {
  const next = state.segments.at(state.segments.indexOfSeq(baseSeq) + 1);
  return next === undefined ? state.lastSeq : next.baseSeq - 1;
}

/** Where to start decoding: an index entry at or before the first wanted record. */
async function startingPoint(
  ctx: ReaderContext,
  state: StreamState,
  range: SegmentRange,
  file: FileHandle,
  end: number,
): Promise<{ offset: number; seq: number }> {
  const segment = segmentFileName(range.baseSeq);
  const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
  await readFully(file, header, 0, SEGMENT_HEADER_BYTES, 0);
  const decoded = decodeSegmentHeader(header);
  if (
    typeof decoded !== "string" &&
    (decoded.baseSeq !== range.baseSeq || decoded.streamTag !== state.tag >>> 0)
  ) {
    throw new CorruptError(
      `segment ${segment} of stream ${JSON.stringify(state.name)} belongs elsewhere ` +
        `(its header names base seq ${decoded.baseSeq}); seqs ${range.baseSeq}..${range.to} cannot be read`,
      {
        stream: state.name,
        segment,
        offset: 0,
        firstSeqLost: range.baseSeq,
        lastSeqLost: range.to,
        resumeAfter: range.to,
      },
    );
  }
  const start = {
    offset: typeof decoded === "string" ? SEGMENT_HEADER_BYTES : decoded.headerBytes,
    seq: range.baseSeq,
  };
  if (range.from === range.baseSeq && range.fromTimeMs === undefined) return start;
  const index = await indexOf(ctx, state, range.baseSeq);
  const bySeq = index.floorBySeq(range.from);
  const byTime =
    range.fromTimeMs === undefined ? undefined : index.lastBeforeTime(range.fromTimeMs);
  const entry =
    byTime !== undefined && (bySeq === undefined || byTime.offset > bySeq.offset) ? byTime : bySeq;
  if (entry === undefined || entry.offset >= end) return start;
  // The index is a hint: use an entry only if the record there carries its seq.
  const probe = new SegmentScanner(file, entry.offset, end, 0, RECORD_BODY_BYTES_LIMIT);
  const view = new RecordView();
  await probe.fill(64);
  let status = probe.decode(entry.seq, view);
  if (status === DECODE_INCOMPLETE && !probe.exhausted) {
    await probe.fill(view.bytesNeeded);
    status = probe.decode(entry.seq, view);
  }
  return status === DECODE_OK ? { offset: entry.offset, seq: entry.seq } : start;
}

function toRecord(buf: Buffer, view: RecordView): JournalRecord {
  const record: JournalRecord = {
    seq: view.seq,
    timestamp: view.timestampMs,
    payload: buf.subarray(view.payloadStart, view.end),
  };
  if (view.payloadStart > view.attrStart)
    record.attributes = buf.subarray(view.attrStart, view.payloadStart);
  return record;
}
