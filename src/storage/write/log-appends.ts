/**
 * Appends that go straight to the commit log, without a turn of the stream's writer loop. With
 * many streams each group commit holds about one append per stream, and the loop's turn per
 * commit (take a batch, commit it, wait, publish) costs more than the append itself. So while a
 * stream's loop has nothing to do, an append is encoded at once, placed after the appends still
 * in flight, and handed to the log; when the log has it, it is published and resolved here.
 * Anything else the stream must do (a rotation, a trim, a flush, a batch too large to stage)
 * goes through the loop, which first waits until these are done (`drained`).
 *
 * Appends complete in the order they were handed to the log. If one fails, every later one of
 * this stream still in flight is cancelled and fails with it (their seqs followed its seqs),
 * and once none is in flight the seqs are handed out again from the committed tail.
 */
import { assert } from "../../assert.js";
import type { TidemarkError } from "../../errors.js";
import type { StreamState } from "../stream/stream-state.js";
import type { ActiveSegment } from "./active-segment.js";
import { indexCandidates, type PendingAppend } from "./append-encoding.js";
import type { AppendQueue } from "./append-queue.js";
import type { CommitLog, LogEntry } from "./commit-log.js";
import type { WriterHost } from "./writer-host.js";

interface InFlight {
  entry: LogEntry;
  pending: PendingAppend;
  position: number;
}

export class LogAppends {
  private readonly inFlight: InFlight[] = [];
  private head = 0;
  /** Segment offset after the last append in flight. */
  private nextPosition = 0;
  /** Bytes and records in flight (the stream's limits count them). */
  bytes = 0;
  records = 0;
  private failure: TidemarkError | undefined;
  private drainWaiters: Array<() => void> = [];
  /** Entries after `head` the log is done with, not settled yet. */
  private completed = 0;

  constructor(
    private readonly host: WriterHost,
    private readonly state: StreamState,
    private readonly segment: ActiveSegment,
    private readonly queue: AppendQueue,
    /** Called after each append is published (the writer's bookkeeping: flushes, limits). */
    private readonly published: () => void,
  ) {}

  get count(): number {
    return this.inFlight.length - this.head;
  }

  /** Where the next append goes in the active segment. */
  get position(): number {
    return this.count > 0 ? this.nextPosition : this.state.segments.active.bytes;
  }

  /** Records the active segment holds once everything in flight is committed. */
  get recordsAhead(): number {
    return this.records;
  }

  /** True while appends may bypass the loop (no failure is being unwound). */
  get open(): boolean {
    return this.failure === undefined;
  }

  /** Encodes `pending` and hands it to `log`. */
  submit(log: CommitLog, pending: PendingAppend): void {
    this.queue.encodeNow(pending);
    const position = this.position;
    this.nextPosition = position + pending.bytes;
    this.bytes += pending.bytes;
    this.records += pending.payloads.length;
    const flight: InFlight = {
      pending,
      position,
      entry: {
        streamId: this.state.id,
        segmentBaseSeq: this.state.segments.active.baseSeq,
        segmentOffset: position,
        buffers: [pending.buf!],
        bytes: pending.bytes,
        done: (err) => this.done(flight, err),
      },
    };
    this.inFlight.push(flight);
    log.submit(flight.entry);
  }

  /** Resolves once no append of this stream is in flight. */
  drained(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /**
   * The log is done with `flight`. Successes are published together, once the log has told
   * every entry of its group (a microtask later): one publish per stream per group.
   */
  private done(flight: InFlight, err: TidemarkError | undefined): void {
    assert(this.inFlight[this.head + this.completed] === flight, "log appends complete in order");
    this.completed++;
    if (err !== undefined && this.failure === undefined) {
      this.failure = err;
      for (let i = this.head + this.completed; i < this.inFlight.length; i++) {
        this.inFlight[i]!.entry.cancelled = true;
      }
      const log = this.host.log;
      if (log?.failure !== undefined) this.segment.fail(log.failure);
    }
    if (this.completed === 1) queueMicrotask(() => this.settle());
  }

  /** Publishes (or fails) every completed append, in order. */
  private settle(): void {
    const { host } = this;
    const from = this.head;
    const to = this.head + this.completed;
    this.head = to;
    this.completed = 0;
    const batch: PendingAppend[] = [];
    let bytes = 0;
    for (let i = from; i < to; i++) {
      const { pending } = this.inFlight[i]!;
      this.bytes -= pending.bytes;
      this.records -= pending.payloads.length;
      if (this.failure === undefined) {
        batch.push(pending);
        bytes += pending.bytes;
        continue;
      }
      host.accounting.settle(pending.bytes, false);
      host.buffers.give(pending.buf!);
      pending.reject(this.failure);
    }
    if (batch.length > 0) {
      const position = this.inFlight[from]!.position;
      const indexed = indexCandidates(batch, position, this.state.activeIndex.nextEntryOffset);
      this.segment.publish(batch, position, bytes, indexed);
      const buffers: Uint8Array[] = new Array(batch.length);
      for (let i = 0; i < batch.length; i++) buffers[i] = batch[i]!.buf!;
      this.segment.stage(buffers, position, bytes);
      host.accounting.settle(bytes, true);
      host.events.committed(bytes);
      this.state.touchedAtMs = host.clock();
      this.state.notify();
      for (const pending of batch) {
        pending.resolve({ firstSeq: pending.firstSeq, timestampMs: pending.timestampMs });
      }
      this.published();
    }
    if (this.count > 0) return;
    this.inFlight.length = 0;
    this.head = 0;
    if (this.failure !== undefined) {
      // The seqs of the failed appends are free again (queued appends are renumbered too).
      this.failure = undefined;
      this.queue.renumber(this.state.tail);
    }
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }
}
