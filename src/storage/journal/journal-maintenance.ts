/**
 * A writing journal's background work, each on an unref'd timer with a bounded period:
 *
 * - under 'batch', an fdatasync of the commit log every `syncIntervalMs`;
 * - write-behind: segment bytes the commit log has and the segments not yet are written every
 *   `flushIntervalMs` (and at once when they pass `pendingBytesMax` journal-wide);
 * - checkpoints of streams that have gone quiet, and of all streams when their unchecked bytes
 *   together pass `recoveryScanBytesMax` (that bounds what a recovery scans);
 * - age expiry (`ageMsMax`), checked every second as well as on append;
 * - a free-space check (statfs) every `diskCheckIntervalMs`, and after every 64 MiB written;
 * - journal-wide eviction while the journal is over its `bytesMax` (discard 'old');
 * - the idle sweeper: streams untouched for `streamIdleMsMax` are deleted, logged and counted.
 *
 * `runOnce()` does one round of all of it now (the timers call it; tests with a fake clock too).
 */
import type { Logger } from "../../logger.js";
import type { FileSystem } from "../fs/file-system.js";
import type { JournalAccounting } from "../retention/journal-limits.js";
import type { StreamState } from "../stream/stream-state.js";
import type { StreamWriter } from "../write/stream-writer.js";
import type { ResolvedOptions } from "./journal-options.js";

export interface MaintainedStream {
  state: StreamState;
  writer: StreamWriter | undefined;
}

export interface MaintenanceHost {
  dir: string;
  fs: FileSystem;
  options: ResolvedOptions;
  accounting: JournalAccounting;
  clock: () => number;
  logger: Logger;
  streams(): Iterable<MaintainedStream>;
  /** Deletes an idle stream (the journal's deleteStream, counted as a sweep). */
  sweep(name: string): Promise<void>;
  /** 'batch': syncs the commit log; undefined when there is none. */
  syncLog(): Promise<void> | undefined;
  /** Staged segment bytes across all streams, and how long they may wait (write-behind.ts). */
  pendingBytes(): number;
  flushIntervalMs(): number;
}

const CHECKPOINT_INTERVAL_MS = 250;
/** How often staged bytes left by streams that stopped appending are looked at. */
const FLUSH_INTERVAL_MS = 100;
/** Staged bytes journal-wide past which every stream writes its own at once. */
const PENDING_BYTES_MAX = 32 * 1024 * 1024;
const AGE_CHECK_INTERVAL_MS = 1000;
const SWEEP_INTERVAL_MS_MAX = 60_000;

export class JournalMaintenance {
  private timers: NodeJS.Timeout[] = [];
  private uncheckedBytes = 0;
  private checkpointingAll = false;
  private evicting: Promise<void> | undefined;
  private checkingDisk: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly host: MaintenanceHost) {}

  start(): void {
    const { options, accounting } = this.host;
    if (options.durability === "batch") this.every(options.syncIntervalMs, () => this.syncAll());
    this.every(CHECKPOINT_INTERVAL_MS, () => this.checkpointQuietStreams());
    this.every(FLUSH_INTERVAL_MS, () => this.flushStaged(false));
    this.every(AGE_CHECK_INTERVAL_MS, () => void this.expire());
    this.every(accounting.limits.diskCheckIntervalMs, () => void this.checkDisk());
    const idle = accounting.limits.streamIdleMsMax;
    if (Number.isFinite(idle)) {
      this.every(
        Math.min(SWEEP_INTERVAL_MS_MAX, Math.max(100, Math.floor(idle / 4))),
        () => void this.sweepIdle(),
      );
    }
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  async runOnce(): Promise<void> {
    await this.checkDisk();
    await Promise.all([...this.host.streams()].map(({ writer }) => writer?.requestFlush()));
    await this.releaseAll();
    await this.sweepIdle();
    this.requestEviction();
    await this.evicting;
  }

  /** Committed bytes not covered by a checkpoint changed (from the stream writers). */
  onUnchecked(deltaBytes: number): void {
    this.uncheckedBytes += deltaBytes;
    if (this.uncheckedBytes <= this.host.options.recoveryScanBytesMax || this.checkpointingAll)
      return;
    this.checkpointingAll = true;
    const writers = [...this.host.streams()].flatMap((entry) =>
      entry.writer === undefined ? [] : [entry.writer],
    );
    void Promise.allSettled(writers.map((writer) => writer.checkpoint())).finally(() => {
      this.checkpointingAll = false;
    });
  }

  /** Staged bytes changed (a commit through the log): write them out if there are too many. */
  onStaged(): void {
    if (this.host.pendingBytes() > PENDING_BYTES_MAX) this.flushStaged(true);
  }

  /** Asks writers to write their staged bytes: those not written for a while, or all. */
  private flushStaged(all: boolean): void {
    const now = this.host.clock();
    const staged: StreamWriter[] = [];
    for (const { writer } of this.host.streams()) {
      if (writer !== undefined && writer.stagedBytes > 0) staged.push(writer);
    }
    const intervalMs = Math.max(FLUSH_INTERVAL_MS, this.host.flushIntervalMs());
    for (const writer of staged) {
      if (all || now - writer.lastFlushAtMs >= intervalMs) void writer.requestFlush();
    }
  }

  /** The journal is over its bytesMax (discard 'old'): evict, one segment at a time. */
  requestEviction(): void {
    if (this.evicting !== undefined || this.host.accounting.excessBytes() === 0) return;
    this.evicting = this.evictJournal().finally(() => {
      this.evicting = undefined;
    });
  }

  checkDisk(): Promise<void> {
    this.checkingDisk ??= this.host.fs
      .freeBytes(this.host.dir)
      .then(
        (free) => {
          this.host.accounting.diskFreeBytes = free;
        },
        (err: unknown) => {
          this.host.logger.warn({ err: String(err) }, "could not check free disk space");
        },
      )
      .finally(() => {
        this.checkingDisk = undefined;
      });
    return this.checkingDisk;
  }

  private every(ms: number, fn: () => void): void {
    const timer = setInterval(() => {
      if (!this.stopped) fn();
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  /** 'batch': the commit log holds every stream's appends; one sync covers them all. */
  private syncAll(): void {
    if (this.host.syncLog() !== undefined) return;
    for (const { writer } of this.host.streams()) writer?.requestSync();
  }

  private checkpointQuietStreams(): void {
    const now = this.host.clock();
    for (const { writer } of this.host.streams()) {
      if (
        writer !== undefined &&
        writer.uncheckedBytes > 0 &&
        now - writer.lastCommitAtMs >= this.host.options.checkpointQuietMs
      ) {
        void writer.checkpoint();
      }
    }
  }

  /** Every stream releases what its retention allows now; resolves when all have looked. */
  private releaseAll(): Promise<unknown> {
    const released: Promise<void>[] = [];
    for (const { writer } of this.host.streams())
      if (writer !== undefined) released.push(writer.requestRelease());
    return Promise.all(released);
  }

  /** Asks every stream with an age limit to release what is past it; resolves when they have. */
  private expire(): Promise<unknown> {
    const released: Promise<void>[] = [];
    for (const { state, writer } of this.host.streams()) {
      if (writer !== undefined && Number.isFinite(state.limits.ageMsMax)) {
        released.push(writer.requestRelease());
      }
    }
    return Promise.all(released);
  }

  private async sweepIdle(): Promise<void> {
    const idleMs = this.host.accounting.limits.streamIdleMsMax;
    if (!Number.isFinite(idleMs)) return;
    const now = this.host.clock();
    const idle = [...this.host.streams()].filter(
      ({ state }) => now - state.touchedAtMs > idleMs && state.waitersCount === 0 && !state.deleted,
    );
    for (const { state } of idle) {
      const untouchedMs = now - state.touchedAtMs;
      try {
        await this.host.sweep(state.name);
        this.host.logger.info(
          { stream: state.name, untouchedMs, records: state.records },
          "deleted an idle stream",
        );
      } catch (err) {
        this.host.logger.warn(
          { stream: state.name, err: String(err) },
          "could not delete an idle stream",
        );
      }
    }
  }

  /** Evicts the journal's oldest segments until it is back under bytesMax. */
  private async evictJournal(): Promise<void> {
    const exhausted = new Set<StreamWriter>();
    while (this.host.accounting.excessBytes() > 0 && !this.stopped) {
      const victim = await this.oldest(exhausted);
      if (victim === undefined) {
        this.host.accounting.setNothingToEvict(true); // waiting appends go ahead
        return;
      }
      const released = await victim.evictOldest().catch((err: unknown) => {
        this.host.logger.warn({ err: String(err) }, "journal-wide eviction failed for a stream");
        return 0;
      });
      if (released === 0) exhausted.add(victim);
    }
  }

  /**
   * The writer of the stream holding the oldest record, by first-record timestamp. Streams with
   * retention 'acked' are never evicted: they hold what a consumer (an outbox, a crash buffer)
   * has not acknowledged, and release it only when it has.
   */
  private async oldest(skip: Set<StreamWriter>): Promise<StreamWriter | undefined> {
    let best: { writer: StreamWriter; timestampMs: number } | undefined;
    for (const { state, writer } of this.host.streams()) {
      if (
        writer === undefined ||
        state.records === 0 ||
        state.deleted ||
        state.retention === "acked" ||
        skip.has(writer)
      )
        continue;
      const first = await writer.firstRecordTimestamp().catch(() => state.tail.lastTimestampMs);
      if (best === undefined || first < best.timestampMs) best = { writer, timestampMs: first };
    }
    return best?.writer;
  }
}
