/**
 * An outbox's durable state: three journal streams and a consumer, nothing else on disk
 * (docs/format.md §13). Every write is one journal append, so a crash leaves each one whole
 * or absent, never half-written.
 *
 *   __outbox/<name>/entries  one record per enqueued entry: the body as payload, EntryMeta as
 *                            attributes. Retention 'acked': the consumer "delivery" acknowledges
 *                            the low-water mark (every entry at or below it is resolved).
 *   __outbox/<name>/log      what happened to entries above the mark: delivered, moved to held,
 *                            counted failed attempts, sequences assigned; a snapshot now and
 *                            then, before which the log is trimmed.
 *   __outbox/<name>/held     conflicts and dead letters (a copy of the entry, with the answer),
 *                            and their resolutions (retried or discarded).
 *
 * Crash windows, and why each is safe:
 * - enqueue: the entry is pending once its append is acknowledged;
 * - delivered but not yet logged: delivered again after a restart, with the same idempotency
 *   key, so the upstream applies it once;
 * - moved to held: the held record is written (and acknowledged) before the entry counts as
 *   resolved; a held record names its entry, so recovery never delivers a held entry;
 * - retried from held: the new entry names the held record it retries (`retryOf`), so a crash
 *   before the resolution record is written still resolves it at recovery.
 */

import { CorruptError } from "../../errors.js";
import type { Journal, Stream } from "../../storage/index.js";
import type { UpstreamAnswer } from "../upstreams/upstream.js";
import { BodyCache } from "./body-cache.js";
import { type EntryMeta, encodeMeta } from "./entry.js";
import type {
  HeldEntry,
  HeldKind,
  HeldRecord,
  LogRecord,
  PendingEntry,
  ResolutionRecord,
} from "./outbox-records.js";
import { recoverOutbox } from "./outbox-recovery.js";
import { PendingEntries } from "./pending-entries.js";
import { SeqRanges } from "./seq-ranges.js";

export type { HeldEntry, HeldKind, PendingEntry } from "./outbox-records.js";

export const OUTBOX_PREFIX = "__outbox/";
const CONSUMER = "delivery";
/** A snapshot is written (and the log trimmed before it) after this many log records. */
const SNAPSHOT_EVERY = 4096;
/** Delivered entries are logged in one record per this interval (or this many entries). */
const LOG_BATCH_MS = 20;
const LOG_BATCH_ENTRIES = 1024;
/** The low-water mark is stored at most this often (each store is a synced write). */
const ACK_INTERVAL_MS = 50;
/** Held answers keep at most this many header bytes. */
const ANSWER_HEADER_BYTES_MAX = 4096;

export const outboxStreamName = (name: string, part: "entries" | "log" | "held") =>
  `${OUTBOX_PREFIX}${name}/${part}`;

/** Names of the outboxes stored in a journal. */
export function outboxNames(journal: Journal): string[] {
  return journal
    .list()
    .filter((stream) => stream.startsWith(OUTBOX_PREFIX) && stream.endsWith("/entries"))
    .map((stream) => stream.slice(OUTBOX_PREFIX.length, -"/entries".length));
}

export class OutboxStore {
  /** Pending entries by seq, the oldest first. */
  readonly pending = new PendingEntries();
  /** Open conflicts and dead letters by entry id. */
  readonly held = new Map<string, HeldEntry>();
  /** The next sequence to assign, per key (sequenced upstreams). */
  private readonly nextSequence = new Map<string, number>();
  /** Entries above the stored mark that are resolved (for snapshots). */
  private resolved = new SeqRanges();
  /** The highest entry seq this store knows (the mark never passes it). */
  private highestSeq: number;
  /** A held entry's `x` record failed to write: held records are not trimmed until a snapshot
   * (which lists the entry as resolved) is stored. */
  private heldTrimBlocked = false;
  private readonly bodies: BodyCache;
  private deliveredUnlogged: number[] = [];
  private logTimer: NodeJS.Timeout | undefined;
  private ackTimer: NodeJS.Timeout | undefined;
  private mark: number;
  private ackedMark: number;
  private acking: Promise<void> | undefined;
  private logRecordsSinceSnapshot = 0;
  private snapshotting: Promise<void> | undefined;
  private readonly writes = new Set<Promise<unknown>>();
  /** A write of the log or the mark failed (logged by the caller; recovery repeats work). */
  onWriteError: (err: unknown) => void = () => undefined;

  private constructor(
    readonly name: string,
    readonly instance: string,
    private readonly entries: Stream,
    private readonly log: Stream,
    private readonly heldStream: Stream,
  ) {
    this.mark = entries.consumer(CONSUMER).position;
    this.ackedMark = this.mark;
    this.highestSeq = this.mark;
    this.bodies = new BodyCache(entries, this.pending);
  }

  /** Opens (or creates, on a writable journal) an outbox's streams and recovers its state. */
  static async open(journal: Journal, name: string, readOnly: boolean): Promise<OutboxStore> {
    const entries = await journal.stream(
      outboxStreamName(name, "entries"),
      readOnly ? {} : { retention: "acked" },
    );
    const log = await journal.stream(outboxStreamName(name, "log"));
    const held = await journal.stream(outboxStreamName(name, "held"));
    let instance = (entries.meta["outbox"] as { instance?: string } | undefined)?.instance;
    if (instance === undefined) {
      instance = crypto.randomUUID();
      if (!readOnly) {
        await entries.setMeta({ ...entries.meta, outbox: { instance, createdAt: Date.now() } });
      }
    }
    const store = new OutboxStore(name, instance, entries, log, held);
    await store.recover(readOnly);
    return store;
  }

  private async recover(readOnly: boolean): Promise<void> {
    const state = await recoverOutbox(this.entries, this.log, this.heldStream, this.mark);
    for (const entry of state.pending.values()) this.pending.add(entry);
    for (const [id, held] of state.held) this.held.set(id, held);
    this.resolved = state.resolved;
    this.highestSeq = Math.max(this.highestSeq, state.highestSeq);
    for (const [key, next] of state.nextSequence) this.nextSequence.set(key, next);
    this.logRecordsSinceSnapshot = state.logRecordsSinceSnapshot;
    if (readOnly) return;
    for (const heldSeq of state.unrecordedRetries) await this.resolveHeld(heldSeq, "retry");
    this.advanceMark();
  }

  get lastEntrySeq(): number {
    return this.entries.info().lastSeq;
  }

  /** Appends an entry; resolves once it is durable (not yet pending: the caller adds it). */
  async append(meta: EntryMeta, body: Uint8Array): Promise<PendingEntry> {
    const { seq } = await this.entries.append(body, { attributes: encodeMeta(meta) });
    // A copy: the caller may reuse its buffer once the append has resolved.
    this.bodies.keep(seq, Buffer.from(body));
    const entry: PendingEntry = {
      seq,
      id: meta.id ?? String(seq),
      meta,
      bodyBytes: body.byteLength,
      attempts: 0,
      lastError: null,
      lastErrorAt: null,
      sequence: null,
    };
    this.pending.add(entry);
    this.highestSeq = Math.max(this.highestSeq, seq);
    return entry;
  }

  /** The body of a pending entry (from memory, or read ahead from the journal). */
  body(entry: PendingEntry): Promise<Uint8Array> {
    return this.bodies.get(entry);
  }

  async heldBody(held: HeldEntry): Promise<Uint8Array> {
    for await (const record of this.heldStream.read({ after: held.heldSeq - 1, limit: 1 })) {
      return record.payload;
    }
    throw new CorruptError(`outbox ${this.name}: the body of held entry ${held.id} is missing`, {
      stream: this.heldStream.name,
      firstSeqLost: held.heldSeq,
    });
  }

  /** Fixes the entry's sequence within `key` before its first attempt (durable). */
  async assignSequence(entry: PendingEntry, key: string): Promise<number> {
    if (entry.sequence !== null) return entry.sequence;
    const q = this.nextSequence.get(key) ?? 0;
    // Set before the append is called, so a snapshot taken meanwhile (whose record comes after
    // this one, and trims it) holds the assignment.
    entry.sequence = q;
    try {
      await this.appendLog({ t: "q", e: entry.seq, k: key, q });
    } catch (err) {
      entry.sequence = null;
      throw err;
    }
    return q;
  }

  /**
   * The upstream has the entry. Logged in the background, many entries to a record, at most
   * every LOG_BATCH_MS: a crash can forget the last few, which are then sent again under the
   * same idempotency key (or producer sequence) and dropped by the upstream as duplicates.
   */
  delivered(entry: PendingEntry, key: string): void {
    this.pending.delete(entry.seq);
    this.bodies.drop(entry.seq);
    this.resolved.add(entry.seq);
    if (entry.sequence !== null) this.nextSequence.set(key, entry.sequence + 1);
    this.deliveredUnlogged.push(entry.seq);
    if (this.deliveredUnlogged.length >= LOG_BATCH_ENTRIES) this.logDelivered();
    else this.logTimer ??= setTimeout(() => this.logDelivered(), LOG_BATCH_MS);
    this.advanceMark();
  }

  private logDelivered(): void {
    clearTimeout(this.logTimer);
    this.logTimer = undefined;
    if (this.deliveredUnlogged.length === 0) return;
    const e = this.deliveredUnlogged;
    this.deliveredUnlogged = [];
    this.track(this.appendLog(e.length === 1 ? { t: "d", e: e[0]! } : { t: "D", e }));
  }

  /** A counted failed attempt (so `attemptsMax`, and sequence reuse, hold across restarts). */
  failed(entry: PendingEntry, error: string, at: number): void {
    entry.attempts++;
    entry.lastError = error;
    entry.lastErrorAt = at;
    this.track(this.appendLog({ t: "f", e: entry.seq, n: entry.attempts, err: error, at }));
  }

  /**
   * Moves an entry to conflicts or dead letters; resolves once the held record is durable. For
   * a sequenced upstream, the entry's sequence is given to the next entry of its key only if
   * every attempt got a definite answer: after an unclear one (a timeout, a lost answer) the
   * upstream may have applied it, and the next entry under the same number would be taken for
   * a duplicate and dropped.
   */
  async hold(
    entry: PendingEntry,
    key: string,
    kind: HeldKind,
    reason: string,
    answer: UpstreamAnswer | null,
    at: number,
  ): Promise<HeldEntry> {
    const body = await this.body(entry);
    const kept = answer === null ? null : trimAnswer(answer);
    const record: HeldRecord = {
      t: "h",
      q: entry.sequence,
      kind,
      e: entry.seq,
      id: entry.id,
      meta: entry.meta,
      reason,
      answer: kept,
      attempts: entry.attempts,
      at,
    };
    const { seq } = await this.heldStream.append(body, {
      attributes: Buffer.from(JSON.stringify(record), "utf8"),
    });
    // Held from here on: in memory before any other await, so nothing trims it meanwhile.
    const held: HeldEntry = {
      heldSeq: seq,
      kind,
      id: entry.id,
      entrySeq: entry.seq,
      meta: entry.meta,
      reason,
      answer: kept,
      attempts: entry.attempts,
      heldAt: at,
      bodyBytes: body.byteLength,
    };
    this.held.set(held.id, held);
    this.pending.delete(entry.seq);
    this.bodies.drop(entry.seq);
    this.resolved.add(entry.seq);
    const skip = entry.sequence !== null && entry.attempts > 0;
    if (skip) this.nextSequence.set(key, entry.sequence! + 1);
    // Also in the log, which outlives the held record once it is retried or discarded.
    this.track(
      this.appendLog(
        skip ? { t: "x", e: entry.seq, k: key, n: entry.sequence! + 1 } : { t: "x", e: entry.seq },
      ).catch((err: unknown) => {
        this.heldTrimBlocked = true;
        throw err;
      }),
    );
    this.advanceMark();
    return held;
  }

  /** Takes an open conflict or dead letter out of the open ones (before retrying or discarding
   * it), so two calls cannot both act on it; `release` puts it back if that fails. */
  claimHeld(id: string): HeldEntry | undefined {
    const held = this.held.get(id);
    if (held !== undefined) this.held.delete(id);
    return held;
  }

  releaseHeld(held: HeldEntry): void {
    this.held.set(held.id, held);
  }

  /** Writes that a claimed held entry was retried or discarded. */
  async resolveHeld(heldSeq: number, action: "retry" | "discard"): Promise<void> {
    const record: ResolutionRecord = { t: "r", h: heldSeq, action, at: Date.now() };
    await this.heldStream.append(new Uint8Array(0), {
      attributes: Buffer.from(JSON.stringify(record), "utf8"),
    });
    // Releasing space is housekeeping: a failure is reported, not thrown at the caller, whose
    // retry or discard is stored.
    await this.trimHeld().catch((err: unknown) => this.onWriteError(err));
  }

  /** Waits for background log writes and the mark's acknowledgement. */
  async flush(): Promise<void> {
    this.logDelivered();
    for (;;) {
      if (this.ackTimer !== undefined) {
        clearTimeout(this.ackTimer);
        this.ackTimer = undefined;
        this.ackMark();
      }
      const busy = [...this.writes, this.acking, this.snapshotting].filter((p) => p !== undefined);
      if (busy.length === 0 && this.ackTimer === undefined) return;
      await Promise.allSettled(busy);
    }
  }

  private track(write: Promise<unknown>): void {
    const tracked = write.catch((err: unknown) => this.onWriteError(err));
    this.writes.add(tracked);
    void tracked.finally(() => this.writes.delete(tracked));
  }

  private async appendLog(record: LogRecord): Promise<void> {
    await this.log.append(JSON.stringify(record));
    if (++this.logRecordsSinceSnapshot >= SNAPSHOT_EVERY) this.snapshot();
  }

  /** Moves the low-water mark over resolved entries and acknowledges it (in the background). */
  private advanceMark(): void {
    const first = this.pending.first();
    const mark = first === undefined ? this.highestSeq : first.seq - 1;
    if (mark <= this.mark) return;
    this.mark = mark;
    this.ackMark();
  }

  private ackMark(): void {
    if (this.acking !== undefined || this.ackTimer !== undefined || this.ackedMark >= this.mark) {
      return;
    }
    const target = this.mark;
    const run = async (): Promise<boolean> => {
      try {
        await this.entries.consumer(CONSUMER).ack(target);
        this.ackedMark = target;
        // Only now: until the mark is stored, recovery starts below it and needs these.
        this.resolved.deleteThrough(target);
        return true;
      } catch (err) {
        this.onWriteError(err); // the next advance tries again; recovery repeats nothing lost
        return false;
      }
    };
    this.acking = run().then((ok) => {
      this.acking = undefined;
      // The next store waits a little, so a busy outbox syncs the mark ~20 times a second.
      if (ok && this.ackedMark < this.mark) {
        this.ackTimer ??= setTimeout(() => {
          this.ackTimer = undefined;
          this.ackMark();
        }, ACK_INTERVAL_MS);
      }
    });
  }

  /** Writes the state the log holds in one record, then trims the log before it. */
  private snapshot(): void {
    if (this.snapshotting !== undefined) return;
    this.logRecordsSinceSnapshot = 0;
    const record: LogRecord = {
      t: "s",
      done: this.resolved.toJSON(),
      f: [],
      q: [],
      next: [...this.nextSequence],
    };
    for (const entry of this.pending.values()) {
      if (entry.attempts > 0) {
        record.f.push([entry.seq, entry.attempts, entry.lastError ?? "", entry.lastErrorAt ?? 0]);
      }
      if (entry.sequence !== null) {
        record.q.push([entry.seq, sequenceKey(entry), entry.sequence]);
      }
    }
    const blocked = this.heldTrimBlocked;
    this.snapshotting = this.log
      .append(JSON.stringify(record))
      .then(({ seq }) => {
        if (blocked) this.heldTrimBlocked = false; // the snapshot lists those entries
        return this.log.trim({ before: seq });
      })
      .catch((err: unknown) => this.onWriteError(err))
      .finally(() => {
        this.snapshotting = undefined;
      });
  }

  /** Releases held records before the oldest still open. */
  private async trimHeld(): Promise<void> {
    // Every `x` record written first: the log must know a held entry is resolved before its
    // held record can go.
    while (this.writes.size > 0) await Promise.allSettled([...this.writes]);
    if (this.heldTrimBlocked) return;
    let oldest = this.heldStream.info().lastSeq + 1;
    for (const held of this.held.values()) oldest = Math.min(oldest, held.heldSeq);
    if (oldest > this.heldStream.info().firstSeq) await this.heldStream.trim({ before: oldest });
  }
}

/** The key a sequenced upstream orders by: the target. */
export function sequenceKey(entry: { meta: EntryMeta }): string {
  return entry.meta.target;
}

function trimAnswer(answer: UpstreamAnswer): UpstreamAnswer {
  const headers: Record<string, string> = {};
  let bytes = 0;
  for (const [name, value] of Object.entries(answer.headers)) {
    bytes += name.length + value.length;
    if (bytes > ANSWER_HEADER_BYTES_MAX) break;
    headers[name] = value;
  }
  return { status: answer.status, headers, body: answer.body };
}
