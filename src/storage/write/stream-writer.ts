/**
 * The write side of one stream: one loop that runs, one at a time, everything that touches the
 * stream's files: group commits, syncs, retention, trim, configuration and metadata changes.
 *
 * Group commit: appends queue up (append-queue.ts) while a commit runs, and the moment it
 * finishes everything queued is written to the segment with one pwritev and handed to the
 * journal's commit log (commit-log.ts), which makes the groups of many streams durable with one
 * fdatasync. There is no linger timer (measured here: a 1 ms linger cut 16-client throughput
 * from 34k to 9k events/s). Appends made in the same tick share a commit because the loop
 * starts from a microtask.
 *
 * Limits are checked when an append is made, against what is on disk plus what is queued, so
 * there is no check-then-write race. The crash reasoning of each write is in active-segment.ts.
 */

import { assert } from "../../assert.js";
import { ClosedError, InvalidArgumentError, StreamFullError, TidemarkError } from "../../errors.js";
import { SEGMENT_HEADER_BYTES } from "../../format/constants.js";
import type { Payload } from "../../format/record.js";
import type { FileHandle } from "../fs/file-system.js";
import { dropOldestSegment, firstTimestampOf } from "../retention/oldest-segment.js";
import { nextRelease, type ReleaseReason } from "../retention/retention.js";
import {
  type ResolvedLimits,
  type Retention,
  type SegmentTargets,
  segmentTargets,
} from "../retention/stream-limits.js";
import { type DescriptorChange, storeDescriptorChange } from "../stream/stream-descriptor.js";
import type { StreamState } from "../stream/stream-state.js";
import { ActiveSegment } from "./active-segment.js";
import { type AppendResult, indexCandidates, type PendingAppend } from "./append-encoding.js";
import { AppendQueue } from "./append-queue.js";
import { LogAppends } from "./log-appends.js";
import type { WriterHost } from "./writer-host.js";

interface Task {
  run: () => Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Most appends in one pwritev: each is one or two buffers, and Linux's IOV_MAX is 1024. */
const APPENDS_PER_WRITE_MAX = 512;
/** Staged bytes that are written to the segment at once, without waiting for the timer. */
const FLUSH_BYTES_MIN = 256 * 1024;
/** Staged bytes a stream may hold while flushes fail; past them appends fail with the error. */
const STAGED_BYTES_MAX = 64 * 1024 * 1024;
/** Appends at least this large go through the loop (a large payload is written before it
 * resolves; see commit). Smaller ones may go straight to the log (log-appends.ts). */
const DIRECT_BYTES_MAX = 64 * 1024;

export class StreamWriter {
  private readonly queue: AppendQueue;
  private readonly segment: ActiveSegment;
  private readonly direct: LogAppends;
  private tasks: Task[] = [];
  private running = false;
  private idleWaiters: Array<() => void> = [];
  private closing = false;
  private targets: SegmentTargets;
  private syncWanted = false;
  private releaseWanted = false;
  private releaseWaiters: Array<() => void> = [];
  private flushWanted = false;
  private flushWaiters: Array<() => void> = [];
  /** When staged bytes were last written to the segment (the journal's timer flushes the rest). */
  lastFlushAtMs = 0;
  /** Appends waiting for journal-wide room, in order (see appendWhenRoom). */
  private roomChain: Promise<void> | undefined;
  private firstTimestampCache: { baseSeq: number; ms: number } | undefined;
  lastCommitAtMs = 0;

  constructor(
    private readonly host: WriterHost,
    private readonly state: StreamState,
    file: FileHandle,
    /** The commit log held records of this stream at open (see ActiveSegment). */
    loggedAtOpen = false,
  ) {
    this.queue = new AppendQueue(host.buffers, host.clock, host.options.queueBytesMax, state.tail);
    this.segment = new ActiveSegment(host, state, file, loggedAtOpen);
    this.direct = new LogAppends(host, state, this.segment, this.queue, () => this.afterDirect());
    this.targets = segmentTargets(state.limits, host.options.segmentBytesMax);
    this.releaseWanted = true; // finish a trim or an eviction a crash interrupted
    this.start();
  }

  /** Bytes committed but not yet covered by a checkpoint. */
  get uncheckedBytes(): number {
    return this.segment.uncheckedBytes;
  }

  /** Committed bytes not yet synced in the segment. */
  get unsynced(): boolean {
    return this.segment.unsynced;
  }

  append(
    payloads: readonly Payload[],
    sizes: readonly number[],
    attributes: Uint8Array | undefined,
    bytes: number,
  ): Promise<AppendResult> {
    if (this.roomChain !== undefined || !this.host.accounting.hasRoom(bytes)) {
      return this.appendWhenRoom(payloads, sizes, attributes, bytes);
    }
    return this.enqueue(payloads, sizes, attributes, bytes);
  }

  /** Asks for an fdatasync of what is written ('batch' timer); runs between commits. */
  requestSync(): void {
    if (!this.unsynced || this.segment.failure !== undefined) return;
    this.syncWanted = true;
    this.start();
  }

  /**
   * Asks the loop to release what retention allows (age expiry timer, consumer acks); resolves
   * once it has looked (a failure to release is retried at the next request).
   */
  requestRelease(): Promise<void> {
    this.releaseWanted = true;
    this.start();
    return new Promise((resolve) => this.releaseWaiters.push(resolve));
  }

  /** Writes a checkpoint of the last durable point, unless one is being written. */
  checkpoint(): Promise<void> {
    return this.segment.checkpoint();
  }

  /** Bytes committed through the log and not written to the segment yet. */
  get stagedBytes(): number {
    return this.segment.stagedBytes;
  }

  /**
   * Asks the loop to write staged bytes to the segment (the journal's write-behind timer);
   * resolves once it has tried.
   */
  requestFlush(): Promise<void> {
    if (this.closing || (this.segment.stagedBytes === 0 && this.direct.count === 0)) {
      return Promise.resolve();
    }
    this.flushWanted = true;
    this.start();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  /**
   * A journal checkpoint (docs/format.md §14.4): syncs what this stream has committed to its
   * segment, after the commit in flight. Resolves false if the stream cannot be synced (it is
   * poisoned or closing): the log files that cover it must then stay.
   */
  async syncForCheckpoint(): Promise<boolean> {
    if (!this.segment.unsynced) return true;
    try {
      await this.schedule(async () => {
        if (this.segment.unsynced) await this.segment.sync();
      });
    } catch {
      return false;
    }
    void this.segment.checkpoint();
    return !this.segment.unsynced;
  }

  /** Changes limits and retention: stored in stream.json first, then applied. */
  configure(limits: ResolvedLimits, retention: Retention): Promise<void> {
    return this.schedule(async () => {
      await this.storeDescriptor({ limits, retention }, "store the stream's limits");
      this.targets = segmentTargets(limits, this.host.options.segmentBytesMax);
      await this.release();
    });
  }

  /** Releases records with seq < before; the floor is stored before any file is removed. */
  trim(before: number): Promise<void> {
    return this.schedule(async () => {
      const limit = this.state.lastSeq + 1;
      if (!Number.isSafeInteger(before) || before < 1 || before > limit) {
        throw new InvalidArgumentError(
          `trim: before must be an integer from 1 to ${limit}, got ${String(before)}`,
          { stream: this.state.name },
        );
      }
      if (before <= this.state.trimmedBefore) return;
      // Whole segments below the point go first: removing needs no space (a full disk is when
      // trim is wanted most), and a crash part way leaves firstSeq between the old point and
      // the new, with nothing below it readable and nothing above it lost.
      const { segments } = this.state;
      while (segments.count > 1 && segments.at(1)!.baseSeq <= before) await this.dropOldest("trim");
      if (
        segments.count === 1 &&
        before > this.state.lastSeq &&
        this.state.lastSeq >= segments.first.baseSeq
      ) {
        await this.segment.rotate();
        await this.dropOldest("trim");
      }
      // A trim the caller was told is done must not come undone in a power loss.
      if (this.host.options.durability !== "none") await this.host.fs.syncDir(this.state.dir);
      if (before <= segments.first.baseSeq) return;
      // The point falls inside the first segment left: store it, so records below stay released.
      const hidden = before - Math.max(segments.first.baseSeq, this.state.trimmedBefore);
      await this.storeDescriptor({ trimmedBefore: before }, "store the trim point");
      this.host.counters.trimmedWithinSegment(hidden);
    });
  }

  /** Stores changed metadata of the layers above (stream.json, atomically). */
  setMeta(meta: Record<string, unknown>): Promise<void> {
    return this.schedule(() => this.storeDescriptor({ meta }, "store the stream's metadata"));
  }

  /** Releases the oldest segment (sealing the active one if it is the only one): the journal's
   * own `bytesMax` with discard 'old'. Resolves with the bytes released. */
  evictOldest(): Promise<number> {
    let released = 0;
    return this.schedule(async () => {
      const hasRecords = this.state.lastSeq >= this.state.segments.first.baseSeq;
      if (!hasRecords) return;
      if (this.state.segments.count === 1) await this.segment.rotate();
      released = await this.dropOldest("journal");
    }).then(() => released);
  }

  /** Finishes queued appends and tasks, syncs everything, checkpoints, closes the files. */
  async close(): Promise<void> {
    this.closing = true;
    await this.idle();
    await this.segment.close();
  }

  /** Timestamp of the oldest record held (journal-wide eviction picks the oldest stream). */
  async firstRecordTimestamp(): Promise<number> {
    const first = this.state.segments.first;
    if (this.firstTimestampCache?.baseSeq === first.baseSeq) return this.firstTimestampCache.ms;
    const ms = (await this.firstTimestamp(first.baseSeq)) ?? this.state.tail.lastTimestampMs;
    this.firstTimestampCache = { baseSeq: first.baseSeq, ms };
    return ms;
  }

  /**
   * The journal is over its bytesMax (discard 'old') by more than the slack: wait for eviction
   * to make room. Appends of this stream queue behind each other here, so they keep their order.
   */
  private appendWhenRoom(
    payloads: readonly Payload[],
    sizes: readonly number[],
    attributes: Uint8Array | undefined,
    bytes: number,
  ): Promise<AppendResult> {
    const turn = (this.roomChain ?? Promise.resolve()).then(() => {
      this.host.events.roomWanted();
      return this.host.accounting.waitForRoom(bytes);
    });
    const chained = turn.then(() => undefined);
    this.roomChain = chained;
    void chained.then(() => {
      if (this.roomChain === chained) this.roomChain = undefined;
    });
    return turn.then(() => this.enqueue(payloads, sizes, attributes, bytes));
  }

  private enqueue(
    payloads: readonly Payload[],
    sizes: readonly number[],
    attributes: Uint8Array | undefined,
    bytes: number,
  ): Promise<AppendResult> {
    try {
      this.admit(bytes, payloads.length);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const pending: PendingAppend = {
        payloads,
        sizes,
        attributes,
        bytes,
        buf: undefined,
        payloadAfter: undefined,
        firstSeq: 0,
        timestampMs: 0,
        lastRecordAt: 0,
        resolve,
        reject,
      };
      const { log } = this.host;
      if (
        log !== undefined &&
        !this.running &&
        this.queue.length === 0 &&
        this.direct.open &&
        bytes < DIRECT_BYTES_MAX &&
        !this.shouldRotate(bytes, payloads.length)
      ) {
        this.direct.submit(log, pending);
        return;
      }
      this.queue.push(pending);
      this.start();
    });
  }

  /** After an append that went straight to the log: what a commit through the loop does next. */
  private afterDirect(): void {
    this.lastCommitAtMs = this.state.touchedAtMs;
    this.flushIfDue();
    if (this.overLimits()) {
      this.releaseWanted = true;
      this.start();
    }
  }

  /**
   * Staged bytes are written soon after their commit when the journal's budget of segment
   * writes allows (write-behind.ts), at once past FLUSH_BYTES_MIN; the journal's timer writes
   * what is left when a stream stops appending.
   */
  private flushIfDue(): void {
    const staged = this.segment.stagedBytes;
    if (staged === 0) return;
    const due = this.host.clock() - this.lastFlushAtMs >= this.host.pending.flushIntervalMs();
    if (due || staged >= FLUSH_BYTES_MIN) void this.requestFlush();
  }

  private admit(bytes: number, records: number): void {
    if (this.closing) throw new ClosedError("the journal is closing", { stream: this.state.name });
    if (this.segment.failure !== undefined) throw this.segment.failure;
    const { flushError } = this.segment;
    if (flushError !== undefined && this.segment.stagedBytes >= STAGED_BYTES_MAX) throw flushError;
    const { limits } = this.state;
    if (limits.discard === "new") {
      // Room for one more segment header, in case this append starts a segment.
      const bytesAfter =
        this.state.segments.totalBytes() +
        this.queue.pendingBytes +
        this.direct.bytes +
        bytes +
        SEGMENT_HEADER_BYTES;
      const recordsAfter =
        this.state.records + this.queue.pendingRecords + this.direct.records + records;
      if (bytesAfter > limits.bytesMax || recordsAfter > limits.recordsMax) {
        this.host.counters.rejectedWith("STREAM_FULL");
        const which =
          recordsAfter > limits.recordsMax
            ? `recordsMax ${limits.recordsMax}`
            : `bytesMax ${limits.bytesMax}`;
        throw new StreamFullError(
          `stream ${JSON.stringify(this.state.name)} is full (${which}, discard 'new'); ` +
            "the append was not made. Trim or delete data, or raise the limit",
          { stream: this.state.name, bytes, records: this.state.records },
        );
      }
    }
    try {
      this.host.accounting.admit(bytes);
    } catch (err) {
      if (err instanceof TidemarkError) this.host.counters.rejectedWith(err.code);
      throw err;
    }
  }

  private schedule(run: () => Promise<void>): Promise<void> {
    if (this.closing)
      return Promise.reject(new ClosedError("the journal is closing", { stream: this.state.name }));
    if (this.segment.failure !== undefined) return Promise.reject(this.segment.failure);
    return new Promise((resolve, reject) => {
      this.tasks.push({ run, resolve, reject });
      this.start();
    });
  }

  private start(): void {
    if (this.running) return;
    this.running = true;
    queueMicrotask(() => void this.run());
  }

  /** Resolves once the loop has nothing to do and no append is in flight outside it. */
  private async idle(): Promise<void> {
    await this.direct.drained();
    if (!this.running) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private async run(): Promise<void> {
    // Appends that went straight to the log land first: the loop's work follows them.
    await this.direct.drained();
    while (
      this.segment.failure === undefined &&
      (this.tasks.length > 0 ||
        this.queue.length > 0 ||
        this.syncWanted ||
        this.releaseWanted ||
        this.flushWanted)
    ) {
      if (this.tasks.length > 0) {
        const task = this.tasks.shift()!;
        await task.run().then(task.resolve, task.reject);
      } else if (this.releaseWanted) {
        // Before queued appends: under a steady load the queue is never empty, and a stream
        // at its limits must still release.
        this.releaseWanted = false;
        const waiters = this.releaseWaiters;
        this.releaseWaiters = [];
        await this.release().catch(() => undefined); // retried at the next trigger
        for (const done of waiters) done();
      } else if (this.flushWanted) {
        this.flushWanted = false;
        const waiters = this.flushWaiters;
        this.flushWaiters = [];
        await this.flush();
        for (const done of waiters) done();
      } else if (this.queue.length > 0) {
        await this.commitNext();
      } else {
        this.syncWanted = false;
        await this.segment.sync().catch(() => undefined); // a failure poisons the segment
      }
    }
    if (this.segment.failure !== undefined) this.failAll(this.segment.failure);
    for (const done of this.releaseWaiters.splice(0)) done();
    for (const done of this.flushWaiters.splice(0)) done();
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }

  private failAll(failure: TidemarkError): void {
    for (const pending of this.queue.drain()) {
      this.host.accounting.settle(pending.bytes, false);
      pending.reject(failure);
    }
    for (const task of this.tasks.splice(0)) task.reject(failure);
  }

  private async commitNext(): Promise<void> {
    const batch = this.queue.take(APPENDS_PER_WRITE_MAX, this.host.options.commitBytesMax);
    let bytes = 0;
    let records = 0;
    for (const pending of batch) {
      bytes += pending.bytes;
      records += pending.payloads.length;
    }
    try {
      const results = await this.commit(batch, bytes, records);
      this.host.accounting.settle(bytes, true);
      this.host.events.committed(bytes);
      for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
      // Staged buffers go back to the pool once they are written (ActiveSegment.flush).
      if (this.host.log === undefined) {
        for (const pending of batch) this.host.buffers.give(pending.buf!);
      }
    } catch (err) {
      this.host.accounting.settle(bytes, false);
      const error = err instanceof Error ? err : new Error(String(err));
      for (const pending of batch) pending.reject(error);
      this.queue.renumber(this.state.tail);
    }
    if (this.overLimits()) this.releaseWanted = true;
    this.flushIfDue();
  }

  /** A cheap check after each commit; age is left to the timer (it may need an index read). */
  private overLimits(): boolean {
    const { state } = this;
    if (state.segments.count < 2) return false;
    const acked = state.retention === "acked" ? state.ackedMin() : undefined;
    if (acked !== undefined && acked >= state.segments.at(1)!.baseSeq - 1) return true;
    if (state.limits.discard !== "old") return false;
    const afterFirst = state.lastSeq - state.segments.at(1)!.baseSeq + 1;
    return (
      state.segments.totalBytes() - state.segments.first.bytes >= state.limits.bytesMax ||
      afterFirst >= state.limits.recordsMax
    );
  }

  /** Whether an append of `bytes` and `records` must start a new segment first. */
  private shouldRotate(bytes: number, records: number): boolean {
    const active = this.state.segments.active;
    const position = this.direct.position;
    if (position <= SEGMENT_HEADER_BYTES) return false; // never rotate away an empty segment
    const held = this.state.lastSeq + this.direct.records - active.baseSeq + 1;
    return (
      position + bytes > this.targets.bytes ||
      held + records > this.targets.records ||
      this.host.clock() - this.state.activeCreatedAtMs > this.targets.ageMs
    );
  }

  /** One group commit (docs/format.md §4.3): write, sync under 'always', then publish. */
  private async commit(
    batch: PendingAppend[],
    bytes: number,
    records: number,
  ): Promise<AppendResult[]> {
    if (this.shouldRotate(bytes, records)) await this.segment.rotate();
    const position = this.state.segments.active.bytes;
    assert(batch[0]!.firstSeq === this.state.tail.lastSeq + 1, "a commit continues the tail");
    const indexed = indexCandidates(batch, position, this.state.activeIndex.nextEntryOffset);
    const buffers: Uint8Array[] = [];
    for (const pending of batch) {
      buffers.push(pending.buf!);
      if (pending.payloadAfter !== undefined) buffers.push(pending.payloadAfter);
    }
    const { log } = this.host;
    if (log === undefined) {
      await this.segment.write(buffers, position, bytes);
    } else {
      // The log first; while its group is written and synced, earlier batches go to the segment.
      const logged = this.segment.log(log, buffers, position, bytes);
      if (this.segment.stagedBytes >= FLUSH_BYTES_MIN) await this.flush();
      await logged;
    }

    this.segment.publish(batch, position, bytes, indexed);
    if (log !== undefined) {
      this.segment.stage(buffers, position, bytes);
      // A large payload is the caller's own buffer: it must be written before the caller may
      // reuse it, that is, before the append resolves.
      if (batch.some((pending) => pending.payloadAfter !== undefined)) await this.flush();
    }
    const now = this.host.clock();
    this.lastCommitAtMs = now;
    this.state.touchedAtMs = now;
    this.state.notify();
    const results: AppendResult[] = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) {
      results[i] = { firstSeq: batch[i]!.firstSeq, timestampMs: batch[i]!.timestampMs };
    }
    return results;
  }

  /** Releases whatever retention allows, oldest segment first (see retention.ts). */
  private async release(): Promise<void> {
    for (;;) {
      const next = await nextRelease(this.state, this.host.clock(), (baseSeq) =>
        this.firstTimestamp(baseSeq),
      );
      if (next === undefined) return;
      if (next.sealFirst) await this.segment.rotate();
      await this.dropOldest(next.reason);
    }
  }

  private async flush(): Promise<void> {
    await this.segment.flush();
    this.lastFlushAtMs = this.host.clock();
  }

  private firstTimestamp(baseSeq: number): Promise<number | undefined> {
    return firstTimestampOf(this.host.indexCache, this.state, baseSeq);
  }

  private dropOldest(reason: ReleaseReason): Promise<number> {
    return dropOldestSegment(this.host, this.state, reason);
  }

  private storeDescriptor(change: DescriptorChange, action: string): Promise<void> {
    const durable = this.host.options.durability !== "none";
    return storeDescriptorChange(this.host.fs, this.state, change, durable, action);
  }
}
