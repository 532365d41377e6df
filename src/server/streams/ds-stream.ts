/**
 * One Durable Streams stream over one journal stream. Each HTTP append is one journal record
 * (one "message"); its offset is `base + seq` (offsets.ts). Appends are validated against the
 * state as it will be once everything already accepted commits (`pending`), so concurrent
 * requests to one stream still share group commits: validation, seq assignment and the journal
 * append happen in one synchronous step, in arrival order. `committed` follows the journal's
 * acknowledgements; if an append fails, new requests wait while `pending` is rebuilt from it.
 */
import type { StoredStream } from "../store/stream-store.js";
import {
  applyChange,
  type CoordinationChange,
  type CoordinationState,
  cloneState,
  decodeChange,
  encodeChange,
  fromSnapshot,
  isEmptyChange,
  toSnapshot,
} from "./producer-state.js";
import {
  RecentMessages as Recent,
  type RecentBudget,
  type RecentMessages,
  type RecentRead,
} from "./recent-messages.js";

export interface ForkOf {
  /** The source stream's path. */
  source: string;
  /** The offset (position) the fork was taken at: the fork's own positions continue from it. */
  offset: number;
  subOffset: number;
}

/** What the server keeps in the journal stream's metadata (`meta.ds`). */
export interface DsMeta {
  contentType: string;
  ttlSeconds: number | null;
  expiresAt: string | null;
  /** Changes with every (re)creation of the path, so ETags of a deleted stream never match. */
  incarnation: string;
  softDeleted: boolean;
  fork: ForkOf | null;
  /** SHA-256 (base64url) of the body of the PUT that created the stream, if it had one. */
  initialDigest?: string;
  snapshot?: ReturnType<typeof toSnapshot>;
}

/** Coordination state is written to the metadata after this many appends that changed it. */
const SNAPSHOT_EVERY_CHANGES = 1024;
/** Newest message bytes kept in memory for a stream with live readers (recent-messages.ts). */
const RECENT_BYTES_MAX = 1024 * 1024;

export class DsStream {
  pending: CoordinationState;
  committed: CoordinationState;
  /** Live forks of this stream (derived at startup, kept up to date). */
  forks = 0;
  lastAccessMs: number;
  private inFlight = 0;
  private drained: Array<() => void> = [];
  private resyncing: Promise<void> | undefined;
  private readonly producerInFlight = new Map<string, Promise<unknown>>();
  private changesSinceSnapshot = 0;
  private closing: Promise<void> | undefined;
  private readonly waiters = new Set<() => void>();
  private liveReaders = 0;
  private recent: RecentMessages | undefined;
  private unwatch: (() => void) | undefined;
  private syncing: Promise<boolean> | undefined;
  private syncAgain: Promise<boolean> | undefined;
  /** The last SSE data event built, shared by every live reader at the same position. */
  sseEvent: { from: number; end: number; text: string } | undefined;
  deleted = false;

  constructor(
    readonly path: string,
    readonly stored: StoredStream,
    public meta: DsMeta,
    committed: CoordinationState,
    nowMs: number,
  ) {
    this.committed = committed;
    this.pending = cloneState(committed);
    this.lastAccessMs = nowMs;
  }

  /** Rebuilds the committed state: the snapshot in the metadata plus the records after it. */
  static async load(
    path: string,
    stream: StoredStream,
    meta: DsMeta,
    nowMs: number,
  ): Promise<DsStream> {
    const { state, seq } = fromSnapshot(meta.snapshot);
    const { firstSeq, lastSeq } = stream.info();
    if (stream.sync !== undefined) {
      // A shared store opens at its start: catching up replays every change, closes included.
      for (const attributes of (await stream.sync()).changes) {
        const change = decodeChange(attributes);
        if (change !== undefined) applyChange(state, change);
      }
    } else if (seq < lastSeq) {
      for await (const record of stream.read(Math.max(seq, firstSeq - 1))) {
        if (record.attributes === undefined) continue;
        const change = decodeChange(record.attributes);
        if (change !== undefined) applyChange(state, change);
      }
    }
    return new DsStream(path, stream, meta, state, nowMs);
  }

  get base(): number {
    return this.meta.fork?.offset ?? 0;
  }

  /** The position after the last message. */
  get tail(): number {
    return this.base + this.stored.info().lastSeq;
  }

  /** Positions below this are no longer held by this stream's own journal stream. */
  get firstOwnPosition(): number {
    return this.base + this.stored.info().firstSeq - 1;
  }

  get closed(): boolean {
    return this.committed.closed;
  }

  touch(nowMs: number): void {
    this.lastAccessMs = nowMs;
  }

  expiresAtMs(): number {
    if (this.meta.ttlSeconds !== null) return this.lastAccessMs + this.meta.ttlSeconds * 1000;
    if (this.meta.expiresAt !== null) return Date.parse(this.meta.expiresAt);
    return Number.POSITIVE_INFINITY;
  }

  /** Resolves when a resync after a failed append is over (at once if there is none). */
  ready(): Promise<void> {
    return this.resyncing ?? Promise.resolve();
  }

  /** The in-flight append of a producer, if any: a duplicate waits for it before answering. */
  producerWrite(id: string): Promise<unknown> | undefined {
    return this.producerInFlight.get(id);
  }

  /**
   * Appends one message whose change was validated against `pending` by the caller in this same
   * synchronous turn. Resolves with the message's position once it is committed.
   */
  append(payload: Uint8Array | string, change: CoordinationChange): Promise<number> {
    return this.appendMessages([payload], change);
  }

  /**
   * Appends messages as one atomic batch (one record each, contiguous positions; the change
   * rides on the last record's attributes). Resolves with the last message's position.
   */
  appendMessages(
    payloads: readonly (Uint8Array | string)[],
    change: CoordinationChange,
  ): Promise<number> {
    applyChange(this.pending, change);
    const attributes = isEmptyChange(change) ? undefined : encodeChange(change);
    this.inFlight++;
    const write = this.stored.append(payloads, attributes).then(
      (lastSeq) => {
        applyChange(this.committed, change);
        this.keepRecent(payloads, lastSeq);
        if (attributes !== undefined) this.afterChange();
        this.settled();
        this.notify();
        return this.base + lastSeq;
      },
      (err: unknown) => {
        this.fail();
        this.settled();
        throw err;
      },
    );
    if (change.producer !== undefined) {
      const id = change.producer.id;
      const tracked = write.catch(() => undefined);
      this.producerInFlight.set(id, tracked);
      void tracked.then(() => {
        if (this.producerInFlight.get(id) === tracked) this.producerInFlight.delete(id);
      });
    }
    return write;
  }

  /**
   * Closes the stream without a message (and records a producer's close-only request): applied
   * to `pending` at once, so later appends are refused, then stored once earlier appends commit.
   */
  close(change: CoordinationChange): Promise<void> {
    applyChange(this.pending, { ...change, close: true });
    const closing = this.storeClose(change);
    this.closing = closing.catch(() => undefined);
    return closing;
  }

  /** Resolves once a close accepted earlier is stored (or failed). */
  whenCloseStored(): Promise<void> {
    return this.closing ?? Promise.resolve();
  }

  private async storeClose(change: CoordinationChange): Promise<void> {
    await this.whenDrained();
    const next = cloneState(this.committed);
    applyChange(next, { ...change, close: true });
    try {
      if (this.stored.appendChange !== undefined) {
        // Shared: the close is a record, ordered (compare-and-set) with other processes' appends.
        this.inFlight++;
        try {
          await this.stored.appendChange(encodeChange({ ...change, close: true }));
        } finally {
          this.settled();
        }
      } else {
        await this.saveMeta({
          ...this.meta,
          snapshot: toSnapshot(next, this.stored.info().lastSeq),
        });
      }
    } catch (err) {
      this.fail();
      throw err;
    }
    this.committed = next;
    this.changesSinceSnapshot = 0;
    this.notify();
  }

  /** Stores the coordination state now (at shutdown, so the next start reads nothing). */
  async snapshot(): Promise<void> {
    // A shared store's state is replayed from its records: several processes never race on it.
    if (this.changesSinceSnapshot === 0 || this.deleted || this.stored.sync !== undefined) return;
    await this.whenDrained();
    this.changesSinceSnapshot = 0;
    await this.saveMeta({
      ...this.meta,
      snapshot: toSnapshot(this.committed, this.stored.info().lastSeq),
    });
  }

  async saveMeta(meta: DsMeta): Promise<void> {
    await this.stored.setMeta({ ...this.stored.meta, ds: meta });
    this.meta = meta;
  }

  /**
   * A shared store: catches up with what other processes committed, so a decision or a read
   * made next sees every acknowledged write. Appends wait meanwhile (`ready`), and the catch-up
   * waits for this process's own appends in flight, so the state is applied in store order.
   * Calls coalesce: one runs, at most one more waits to start after it. False when the stream
   * was deleted (or deleted and created again) elsewhere.
   */
  catchUp(): Promise<boolean> {
    if (this.stored.sync === undefined) return Promise.resolve(!this.deleted);
    if (this.syncing === undefined) {
      const running = this.runCatchUp().finally(() => {
        if (this.syncing === running) this.syncing = undefined;
      });
      this.syncing = running;
      return running;
    }
    this.syncAgain ??= this.syncing
      .catch(() => undefined)
      .then(() => {
        this.syncAgain = undefined;
        return this.catchUp();
      });
    return this.syncAgain;
  }

  private async runCatchUp(): Promise<boolean> {
    let release: () => void = () => undefined;
    const previous = this.resyncing;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.resyncing = gate;
    try {
      await previous;
      await this.whenDrained();
      const before = this.stored.info().lastSeq;
      const { gone, changes, meta } = await this.stored.sync!();
      if (meta !== undefined) {
        const ds = (meta as { ds?: DsMeta }).ds;
        if (ds !== undefined) this.meta = ds;
      }
      if (gone) {
        this.deleted = true;
        this.notify();
        return false;
      }
      for (const attributes of changes) {
        const change = decodeChange(attributes);
        if (change !== undefined) applyChange(this.committed, change);
      }
      this.pending = cloneState(this.committed);
      if (changes.length > 0 || this.stored.info().lastSeq !== before) this.notify();
      return true;
    } catch (err) {
      // The store is out of reach: what failed must not count as accepted. The next append is
      // decided on what is known committed; its compare-and-set finds whatever else happened.
      this.pending = cloneState(this.committed);
      throw err;
    } finally {
      if (this.resyncing === gate) this.resyncing = undefined;
      release();
    }
  }

  /** Calls `wake` once, at the next commit, close, delete or expiry; returns a cancel function. */
  onChange(wake: () => void): () => void {
    this.waiters.add(wake);
    return () => this.waiters.delete(wake);
  }

  /**
   * A live reader (SSE or long-poll) starts: while any is open, new messages are also kept in
   * memory for them. Returns the function to call when it ends.
   */
  liveReaderOpened(budget: RecentBudget): () => void {
    const watch = this.stored.watch?.bind(this.stored);
    // A shared store's seqs have gaps and other processes append: its readers read the store.
    if (watch === undefined) this.recent ??= new Recent(budget, RECENT_BYTES_MAX);
    else if (this.liveReaders === 0) {
      this.unwatch = watch(() => void this.catchUp().catch(() => undefined));
    }
    this.liveReaders++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--this.liveReaders > 0) return;
      this.unwatch?.();
      this.unwatch = undefined;
      this.recent?.clear();
      this.recent = undefined;
      this.sseEvent = undefined;
    };
  }

  /**
   * Committed messages go to the recent cache while live readers wait on this stream. Of a
   * batch only the newest that fit are kept, copied, so a few small messages never hold on to
   * the whole request body they were sliced from.
   */
  private keepRecent(payloads: readonly (Uint8Array | string)[], lastSeq: number): void {
    const recent = this.recent;
    if (recent === undefined) return;
    if (payloads.length === 1) {
      const only = payloads[0]!;
      recent.add(this.base + lastSeq, typeof only === "string" ? Buffer.from(only) : only);
      return;
    }
    let first = payloads.length;
    let bytes = 0;
    while (first > 0 && bytes + Buffer.byteLength(payloads[first - 1]!) <= RECENT_BYTES_MAX / 4) {
      first--;
      bytes += Buffer.byteLength(payloads[first]!);
    }
    const copy = Buffer.allocUnsafe(bytes);
    let at = 0;
    for (let i = first; i < payloads.length; i++) {
      const payload = payloads[i]!;
      const length = typeof payload === "string" ? copy.write(payload, at) : payload.byteLength;
      if (typeof payload !== "string") copy.set(payload, at);
      recent.add(this.base + lastSeq - (payloads.length - 1 - i), copy.subarray(at, at + length));
      at += length;
    }
  }

  /** Messages after `from` up to `stop` from memory, when all are there (recent-messages.ts). */
  recentAfter(from: number, stop: number, bytesMax: number): RecentRead | undefined {
    return this.recent?.after(from, stop, bytesMax);
  }

  get liveWaiters(): number {
    return this.waiters.size;
  }

  notify(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }

  private afterChange(): void {
    if (++this.changesSinceSnapshot < SNAPSHOT_EVERY_CHANGES) return;
    void this.snapshot().catch(() => undefined); // only a longer replay at the next start
  }

  private whenDrained(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  private settled(): void {
    if (--this.inFlight > 0) return;
    const waiting = this.drained;
    this.drained = [];
    for (const resolve of waiting) resolve();
  }

  /** An append failed: once nothing is in flight, `pending` becomes what is committed. */
  private fail(): void {
    if (this.stored.sync !== undefined) {
      void this.catchUp().catch(() => undefined); // another process may have written: learn what
      return;
    }
    this.resyncing ??= this.whenDrained().then(() => {
      this.pending = cloneState(this.committed);
      this.resyncing = undefined;
    });
  }
}
