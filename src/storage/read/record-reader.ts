/**
 * Reading a range of committed records, segment by segment (docs/format.md §4, §6). The iterator
 * answers `next()` from the chunk in memory whenever it can, with an already-resolved promise;
 * only chunk refills and segment changes take the slow, asynchronous path. Damage is never
 * skipped: the records before it are returned, then a `CorruptError` says which seqs are lost
 * and where intact records resume.
 */

import { join } from "node:path";
import { SEGMENT_HEADER_BYTES } from "../../format/constants.js";
import { decodeSegmentHeader } from "../../format/segment-header.js";
import { segmentFileName } from "../../format/segment-name.js";
import { readFully } from "../fs/file-ops.js";
import { lostRangeAt, nextLostSeq } from "../stream/lost-ranges.js";
import type { StreamState } from "../stream/stream-state.js";
import {
  cursorExpired,
  type JournalRecord,
  NEED_IO,
  type ReaderContext,
  SegmentCursor,
} from "./segment-cursor.js";
import type { ScanBuffer } from "./segment-scanner.js";

export type { JournalRecord, ReaderContext } from "./segment-cursor.js";

export interface ReadRequest {
  /** Yield records with seq > after. */
  after: number;
  /** Stop after this seq (the last seq committed when the read began). */
  lastSeq: number;
  limit: number;
  fromTimeMs: number | undefined;
  toTimeMs: number | undefined;
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

export class RecordIterator implements AsyncIterableIterator<JournalRecord> {
  private request: ReadRequest | undefined;
  private cursor: SegmentCursor | undefined;
  private nextSeq = 0;
  private remaining = 0;
  private timeStart: number | undefined;
  private finished = false;
  private busy: Promise<IteratorResult<JournalRecord>> | undefined;
  /** Set for batch reads (`nextBatch`), whose records are valid only until the next call. */
  private readonly scratch: ScanBuffer | undefined;

  /** `prepare` runs once, before the first record: it may refresh state and validate. */
  constructor(
    private readonly ctx: ReaderContext,
    private readonly state: StreamState,
    private readonly prepare: () => Promise<ReadRequest>,
    reuseBuffers = false,
  ) {
    this.scratch = reuseBuffers ? { buf: undefined } : undefined;
  }

  /**
   * The next records (at least one), as many as are in memory, up to `max`; undefined at the
   * end. With `reuseBuffers`, the records (their payload views) are valid only until the next
   * call: then the buffer they point into is read into again.
   */
  async nextBatch(max: number): Promise<JournalRecord[] | undefined> {
    const first = await this.next();
    if (first.done) return undefined;
    const batch = [first.value];
    const cursor = this.cursor;
    while (batch.length < max && cursor !== undefined && !this.finished && this.remaining > 0) {
      const pulled = cursor.pull();
      if (typeof pulled !== "object") break; // I/O or the segment's end: the next call does it
      this.remaining--;
      batch.push(pulled);
    }
    return batch;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<JournalRecord> {
    return this;
  }

  next(): Promise<IteratorResult<JournalRecord>> {
    if (this.busy !== undefined) return this.busy.then(() => this.next());
    if (this.cursor !== undefined && !this.finished && this.remaining > 0) {
      const pulled = this.cursor.pull();
      if (typeof pulled === "object") {
        this.remaining--;
        return Promise.resolve({ done: false, value: pulled });
      }
    }
    const slow = this.slowNext().finally(() => {
      this.busy = undefined;
    });
    this.busy = slow;
    return slow;
  }

  async return(): Promise<IteratorResult<JournalRecord>> {
    if (this.busy !== undefined) await this.busy.catch(() => undefined);
    await this.finish();
    return DONE;
  }

  private async slowNext(): Promise<IteratorResult<JournalRecord>> {
    try {
      if (this.request === undefined) {
        this.request = await this.prepare();
        this.nextSeq = this.request.after + 1;
        this.remaining = this.request.limit;
        this.timeStart = this.request.fromTimeMs;
      }
      for (;;) {
        if (this.finished) return DONE;
        if (this.cursor === undefined) {
          // Seqs known lost (repaired, or absent from an import) are stepped over, not read.
          const lost = lostRangeAt(this.state.lost, this.nextSeq);
          if (lost !== undefined) this.nextSeq = lost[1] + 1;
          if (this.nextSeq > this.request.lastSeq || this.remaining <= 0) return this.finishDone();
          this.cursor = await this.openCursor(this.request);
          continue;
        }
        const pulled = this.cursor.pull();
        if (typeof pulled === "object") {
          this.remaining--;
          return { done: false, value: pulled };
        }
        if (pulled === NEED_IO) {
          await this.cursor.io();
          continue;
        }
        const cursor = this.cursor;
        this.cursor = undefined;
        await cursor.close();
        if (cursor.pastTimeEnd) return this.finishDone();
      }
    } catch (err) {
      await this.finish();
      throw err;
    }
  }

  private async openCursor(request: ReadRequest): Promise<SegmentCursor> {
    const { state } = this;
    const from = this.nextSeq;
    let i = state.segments.indexOfSeq(from);
    if (this.timeStart !== undefined) {
      i = Math.max(i, await segmentForTime(this.ctx, state, this.timeStart));
    }
    if (i < 0 || from < state.firstSeq) throw cursorExpired(state, from);
    const segment = state.segments.at(i)!;
    const nextBase = state.segments.at(i + 1)?.baseSeq;
    const to = Math.min(
      nextBase === undefined ? request.lastSeq : Math.min(request.lastSeq, nextBase - 1),
      nextLostSeq(state.lost, from) - 1,
    );
    const cursor = await SegmentCursor.open(
      this.ctx,
      state,
      {
        baseSeq: segment.baseSeq,
        from,
        to,
        limit: this.remaining,
        fromTimeMs: this.timeStart,
        toTimeMs: request.toTimeMs,
      },
      this.scratch,
    );
    this.nextSeq = to + 1;
    this.timeStart = undefined;
    return cursor;
  }

  private async finishDone(): Promise<IteratorResult<JournalRecord>> {
    await this.finish();
    return DONE;
  }

  private async finish(): Promise<void> {
    this.finished = true;
    const cursor = this.cursor;
    this.cursor = undefined;
    await cursor?.close();
  }
}

/** The last segment whose first record is older than `timeMs` (or the first segment). */
/**
 * The last segment whose header time is before `timeMs` (or the first): every record before it
 * is older than `timeMs` (its header time bounds them), so the first record at or after `timeMs`
 * is in it or later. Headers not read yet are read in parallel, once, so a cold search over a
 * large stream costs one round of small reads instead of a chain of index loads.
 */
async function segmentForTime(
  ctx: ReaderContext,
  state: StreamState,
  timeMs: number,
): Promise<number> {
  await loadHeaderTimes(ctx, state);
  let lo = 0;
  let hi = state.segments.count - 1;
  let found = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const createdAtMs = state.segments.at(mid)!.createdAtMs;
    if (createdAtMs !== undefined && createdAtMs < timeMs) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

const HEADER_READS_AT_ONCE = 16;

async function loadHeaderTimes(ctx: ReaderContext, state: StreamState): Promise<void> {
  const missing = state.segments.all().filter((segment) => segment.createdAtMs === undefined);
  let next = 0;
  const worker = async () => {
    while (next < missing.length) {
      const segment = missing[next++]!;
      segment.createdAtMs = await readHeaderTime(ctx, state, segment.baseSeq);
    }
  };
  await Promise.all(Array.from({ length: Math.min(HEADER_READS_AT_ONCE, missing.length) }, worker));
}

/** The segment header's time; 0 (older than anything) when the header cannot be read. */
async function readHeaderTime(
  ctx: ReaderContext,
  state: StreamState,
  baseSeq: number,
): Promise<number> {
  try {
    const file = await ctx.fs.open(join(state.dir, segmentFileName(baseSeq)), "read");
    try {
      const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
      await readFully(file, buf, 0, SEGMENT_HEADER_BYTES, 0);
      const header = decodeSegmentHeader(buf);
      return typeof header === "string" ? 0 : header.createdAtMs;
    } finally {
      await file.close();
    }
  } catch {
    return 0; // a missing or unreadable segment: reading it reports the problem
  }
}
