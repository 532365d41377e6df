/**
 * Reading a range of committed records. A read works segment by segment: it finds its starting
 * point with the sparse index (docs/format.md §6), decodes chunk by chunk, and checks every
 * record's CRC and seq on the way. Damage is never skipped: the records before it are yielded,
 * then a `CorruptError` says which seqs are lost and where intact records resume.
 */
import { join } from "node:path";
import { CorruptError, CursorExpiredError, fromSystemError, isErrnoCode } from "../errors.js";
import { RECORD_BODY_BYTES_LIMIT, SEGMENT_HEADER_BYTES } from "../format/constants.js";
import { DECODE_INCOMPLETE, DECODE_OK, RecordView } from "../format/record.js";
import { decodeSegmentHeader } from "../format/segment-header.js";
import { segmentFileName } from "../format/segment-name.js";
import { readFully } from "./file-ops.js";
import type { FileHandle, FileSystem } from "./file-system.js";
import type { IndexCache } from "./index-cache.js";
import { findNextValidRecord } from "./resync.js";
import { SegmentScanner } from "./segment-scanner.js";
import type { SparseIndex } from "./sparse-index.js";
import type { StreamState } from "./stream-state.js";

/** One record as read back: `payload` holds exactly the bytes appended. */
export interface JournalRecord {
  seq: number;
  /** Milliseconds since the epoch when the record was appended. */
  timestamp: number;
  payload: Uint8Array;
  /** The attribute block given at append, if any. */
  attributes?: Uint8Array;
}

export interface ReadRequest {
  /** Yield records with seq > after. */
  after: number;
  /** Stop after this seq (the last seq committed when the read began). */
  lastSeq: number;
  limit: number;
  fromTimeMs: number | undefined;
  toTimeMs: number | undefined;
}

export interface ReaderContext {
  fs: FileSystem;
  indexCache: IndexCache;
  readChunkBytes: number;
}

export async function* readRecords(
  ctx: ReaderContext,
  state: StreamState,
  request: ReadRequest,
): AsyncGenerator<JournalRecord> {
  let next = request.after + 1;
  let remaining = request.limit;
  let timeStart = request.fromTimeMs;
  while (next <= request.lastSeq && remaining > 0) {
    let i = timeStart === undefined ? state.segments.indexOfSeq(next) : -1;
    if (timeStart !== undefined) {
      i = Math.max(await segmentForTime(ctx, state, timeStart), state.segments.indexOfSeq(next));
    }
    if (i < 0 || next < state.firstSeq) throw expired(state, next);
    const segment = state.segments.at(i)!;
    const nextBase = state.segments.at(i + 1)?.baseSeq;
    const toSeq = Math.min(
      request.lastSeq,
      nextBase === undefined ? request.lastSeq : nextBase - 1,
    );
    const read = new SegmentRead(
      ctx,
      state,
      segment.baseSeq,
      next,
      toSeq,
      remaining,
      timeStart,
      request.toTimeMs,
    );
    for await (const record of read.records()) {
      yield record;
      remaining--;
    }
    if (read.pastTimeEnd) return;
    next = toSeq + 1;
    timeStart = undefined;
  }
}

function expired(state: StreamState, seq: number): CursorExpiredError {
  return new CursorExpiredError(
    `seq ${seq} of stream ${JSON.stringify(state.name)} is no longer retained; ` +
      `the first retained seq is ${state.firstSeq}`,
    state.firstSeq,
    { stream: state.name },
  );
}

/** The last segment whose first record is older than `timeMs` (or the first segment). */
async function segmentForTime(
  ctx: ReaderContext,
  state: StreamState,
  timeMs: number,
): Promise<number> {
  let lo = 0;
  let hi = state.segments.count - 1;
  let found = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const first = (await indexOf(ctx, state, state.segments.at(mid)!.baseSeq)).first();
    if (first !== undefined && first.timestampMs < timeMs) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

function indexOf(
  ctx: ReaderContext,
  state: StreamState,
  baseSeq: number,
): Promise<SparseIndex> | SparseIndex {
  if (state.segments.active.baseSeq === baseSeq) return state.activeIndex;
  return ctx.indexCache.get(state.dir, baseSeq);
}

/** Reads seqs `from..to` (those that pass the time filter) out of one segment. */
class SegmentRead {
  pastTimeEnd = false;
  private readonly segment: string;

  constructor(
    private readonly ctx: ReaderContext,
    private readonly state: StreamState,
    private readonly baseSeq: number,
    private readonly from: number,
    private readonly to: number,
    private readonly limit: number,
    private readonly fromTimeMs: number | undefined,
    private readonly toTimeMs: number | undefined,
  ) {
    this.segment = segmentFileName(baseSeq);
  }

  async *records(): AsyncGenerator<JournalRecord> {
    const file = await this.open();
    try {
      let end = this.committedEnd();
      const start = await this.startingPoint(file, end);
      let scanner = new SegmentScanner(
        file,
        start.offset,
        end,
        this.ctx.readChunkBytes,
        RECORD_BODY_BYTES_LIMIT,
      );
      const view = new RecordView();
      let expected = start.seq;
      let count = 0;
      for (;;) {
        const status = scanner.decode(expected, view);
        if (status === DECODE_OK) {
          scanner.advance(view);
          expected++;
          if (view.seq < this.from) continue;
          if (this.fromTimeMs !== undefined && view.timestampMs < this.fromTimeMs) {
            if (view.seq === this.to) return;
            continue;
          }
          if (this.toTimeMs !== undefined && view.timestampMs > this.toTimeMs) {
            this.pastTimeEnd = true;
            return;
          }
          yield toRecord(scanner.buffer, view);
          if (view.seq === this.to || ++count === this.limit) return;
          continue;
        }
        if (status === DECODE_INCOMPLETE && !scanner.exhausted) {
          await scanner.fill(view.bytesNeeded);
          continue;
        }
        if (status === DECODE_INCOMPLETE) {
          // The range ended early. While this read ran the segment may have grown (it was active
          // and more was committed) or been sealed; otherwise records are missing.
          const grown = this.committedEnd();
          if (grown > end) {
            end = grown;
            scanner = new SegmentScanner(
              file,
              scanner.position,
              end,
              this.ctx.readChunkBytes,
              RECORD_BODY_BYTES_LIMIT,
            );
            continue;
          }
        }
        if (expected < this.from) {
          // Damage before the first wanted record (the scan started at an earlier index
          // entry): step over it if the wanted record is intact.
          const hit = await findNextValidRecord(file, scanner.position + 1, end, expected - 1, RECORD_BODY_BYTES_LIMIT);
          if (hit !== undefined && hit.seq <= this.from) {
            scanner.seek(hit.offset);
            expected = hit.seq;
            continue;
          }
        }
        throw await this.damage(file, scanner.position, end, expected, view.reason);
      }
    } finally {
      await file.close();
    }
  }

  private async open(): Promise<FileHandle> {
    try {
      return await this.ctx.fs.open(join(this.state.dir, this.segment), "read");
    } catch (err) {
      if (isErrnoCode(err, "ENOENT")) {
        if (this.from < this.state.firstSeq) throw expired(this.state, this.from);
        throw new CorruptError(
          `segment ${this.segment} of stream ${JSON.stringify(this.state.name)} is missing; ` +
            `seqs ${this.baseSeq}..${this.to} are lost`,
          {
            stream: this.state.name,
            segment: this.segment,
            firstSeqLost: this.baseSeq,
            lastSeqLost: this.to,
            resumeAfter: this.to,
          },
        );
      }
      throw fromSystemError(err, `open segment ${this.segment}`, {
        stream: this.state.name,
        segment: this.segment,
      });
    }
  }

  /** Bytes of this segment that are committed now (the active segment grows). */
  private committedEnd(): number {
    const segments = this.state.segments;
    const i = segments.indexOfSeq(this.baseSeq);
    const info = segments.at(i);
    return info !== undefined && info.baseSeq === this.baseSeq ? info.bytes : 0;
  }

  /** Where to start decoding: an index entry at or before the first wanted record. */
  private async startingPoint(
    file: FileHandle,
    end: number,
  ): Promise<{ offset: number; seq: number }> {
    const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
    await readFully(file, header, 0, SEGMENT_HEADER_BYTES, 0);
    const decoded = decodeSegmentHeader(header);
    if (
      typeof decoded !== "string" &&
      (decoded.baseSeq !== this.baseSeq || decoded.streamTag !== this.state.tag >>> 0)
    ) {
      throw new CorruptError(
        `segment ${this.segment} of stream ${JSON.stringify(this.state.name)} belongs elsewhere ` +
          `(its header names base seq ${decoded.baseSeq}); seqs ${this.baseSeq}..${this.to} cannot be read`,
        {
          stream: this.state.name,
          segment: this.segment,
          offset: 0,
          firstSeqLost: this.baseSeq,
          lastSeqLost: this.to,
          resumeAfter: this.to,
        },
      );
    }
    const headerBytes = typeof decoded === "string" ? SEGMENT_HEADER_BYTES : decoded.headerBytes;
    const start = { offset: headerBytes, seq: this.baseSeq };
    if (this.from === this.baseSeq && this.fromTimeMs === undefined) return start;
    const index = await indexOf(this.ctx, this.state, this.baseSeq);
    const entry =
      this.fromTimeMs !== undefined
        ? laterOf(index.lastBeforeTime(this.fromTimeMs), index.floorBySeq(this.from))
        : index.floorBySeq(this.from);
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

  private async damage(
    file: FileHandle,
    offset: number,
    end: number,
    expected: number,
    reason: string,
  ): Promise<CorruptError> {
    const name = JSON.stringify(this.state.name);
    const endOfData = offset >= end;
    const hit = endOfData
      ? undefined
      : await findNextValidRecord(file, offset + 1, end, expected - 1, RECORD_BODY_BYTES_LIMIT);
    const lastLost = hit === undefined ? this.lastSeqOfSegment() : hit.seq - 1;
    const bytes = (hit?.offset ?? end) - offset;
    const resume = lastLost >= this.state.lastSeq ? {} : { resumeAfter: lastLost };
    const message = endOfData
      ? `stream ${name}: ${this.segment} ends at seq ${expected - 1} but the stream continues at ` +
        `seq ${lastLost + 1}; seqs ${expected}..${lastLost} are missing (a segment file was lost)`
      : `stream ${name}: ${reason} at offset ${offset} of ${this.segment}; ` +
        `seqs ${expected}..${lastLost} cannot be read (${bytes} bytes)` +
        (hit === undefined ? "" : `; intact records resume at seq ${hit.seq}`);
    return new CorruptError(message, {
      stream: this.state.name,
      segment: this.segment,
      offset,
      bytes,
      firstSeqLost: expected,
      lastSeqLost: lastLost,
      ...resume,
    });
  }

  private lastSeqOfSegment(): number {
    const i = this.state.segments.indexOfSeq(this.baseSeq);
    const next = this.state.segments.at(i + 1);
    return next === undefined ? this.state.lastSeq : next.baseSeq - 1;
  }
}

function laterOf<T extends { offset: number }>(a: T | undefined, b: T | undefined): T | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a.offset >= b.offset ? a : b;
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
