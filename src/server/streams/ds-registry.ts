/**
 * All Durable Streams streams of a server, by path, with their lifecycle: create (plain, closed,
 * or as a fork), delete (soft while forks read through it, hard otherwise, cascading), and expiry
 * (TTL or Expires-At), over a store (store/stream-store.ts). A local journal's streams are all
 * loaded at startup; a shared store's (JetStream) are opened on first use and caught up with
 * what other processes committed before each request uses them. Fork reference counts are
 * derived from the forks at startup (or asked of a shared store), never stored, so they cannot
 * drift from the data after a crash.
 */

import { randomBytes } from "node:crypto";
import type { Journal, StreamLimits } from "../../storage/index.js";
import type { StoredStream, StreamStore } from "../store/stream-store.js";
import { DEFAULT_CONTENT_TYPE } from "./content-type.js";
import { type DsMeta, DsStream } from "./ds-stream.js";
import { emptyState, encodeChange } from "./producer-state.js";
import { streamGone, streamNotFound } from "./stream-errors.js";

export interface RegistryOptions {
  clock: () => number;
  /** Limits every new stream gets (the journal's own limits apply across streams). */
  streamLimits: StreamLimits | undefined;
}

/** Journal streams under this prefix belong to the server itself, not to clients. */
export const RESERVED_PREFIX = "__ds/";

export class DsRegistry {
  private readonly streams = new Map<string, DsStream>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly opens = new Map<string, Promise<DsStream | undefined>>();

  constructor(
    /** The server's own journal (subscriptions, outboxes, admin statistics). */
    readonly journal: Journal,
    readonly store: StreamStore,
    private readonly options: RegistryOptions,
  ) {}

  /** Loads every stream of a local store (streams written by the library read as bytes). */
  async load(): Promise<void> {
    if (this.store.shared) return; // opened on demand (open())
    const now = this.options.clock();
    for (const name of await this.store.names()) {
      const stream = await this.store.open(name);
      if (stream === undefined) continue;
      this.streams.set(name, await DsStream.load(name, stream, metaOf(stream), now));
    }
    for (const ds of this.streams.values()) {
      const source = ds.meta.fork === null ? undefined : this.streams.get(ds.meta.fork.source);
      if (source !== undefined) source.forks++;
    }
  }

  get size(): number {
    return this.streams.size;
  }

  all(): IterableIterator<DsStream> {
    return this.streams.values();
  }

  /** The stream at `path`, even if soft-deleted or expired (for reads through forks). */
  peek(path: string): DsStream | undefined {
    return this.streams.get(path);
  }

  /**
   * The stream at `path` as the store has it now, even if soft-deleted or expired: a shared
   * store's stream is opened (with its fork sources) if this process has not seen it yet, and
   * caught up with other processes' commits if it has.
   */
  async find(path: string, fresh = true): Promise<DsStream | undefined> {
    if (!this.store.shared) return this.streams.get(path);
    const known = this.streams.get(path);
    if (known !== undefined && !fresh && !known.deleted) return known;
    if (known !== undefined) {
      if (await known.catchUp()) return known;
      // Deleted, or deleted and created again, by another process: forget this incarnation.
      if (this.streams.get(path) === known) this.streams.delete(path);
    }
    return this.opening(path);
  }

  /** One open of `path` at a time; the stream is kept once it is loaded. */
  private opening(path: string): Promise<DsStream | undefined> {
    const open = async (): Promise<DsStream | undefined> => {
      const known = this.streams.get(path);
      if (known !== undefined) return known;
      const stream = await this.store.open(path);
      if (stream === undefined) return undefined;
      const ds = await DsStream.load(path, stream, metaOf(stream), this.options.clock());
      if (ds.meta.fork !== null) await this.find(ds.meta.fork.source);
      ds.forks = (await this.store.forks?.(path)) ?? 0;
      // A sliding TTL counts from the last use anywhere, not from this process's first look.
      if (ds.meta.ttlSeconds !== null && stream.lastAccess !== undefined) {
        ds.lastAccessMs = (await stream.lastAccess()) ?? stream.info().createdAt;
      }
      this.streams.set(path, ds);
      return ds;
    };
    const running = this.opens.get(path);
    if (running !== undefined) return running;
    const started = open().finally(() => this.opens.delete(path));
    this.opens.set(path, started);
    return started;
  }

  /**
   * The stream at `path` for a request: expires it first if due; 404 if missing, 410 if it only
   * lives on as the source of forks. `touch` renews a sliding TTL (every access but HEAD).
   * `fresh: false` skips catching up with other processes (appends: their compare-and-set
   * finds out, and they catch up before refusing anything).
   */
  async live(path: string, touch: boolean, fresh = true): Promise<DsStream> {
    const ds = await this.find(path, fresh);
    if (ds === undefined) throw streamNotFound(path);
    const now = this.options.clock();
    if (!ds.meta.softDeleted && now >= ds.expiresAtMs() && (await this.stillDue(ds, now))) {
      await this.expire(ds);
    }
    if (ds.deleted) throw streamNotFound(path);
    if (ds.meta.softDeleted) throw streamGone(path);
    if (touch) {
      ds.touch(now);
      if (ds.meta.ttlSeconds !== null) await ds.stored.recordAccess?.(now);
    }
    return ds;
  }

  /** A sliding TTL that looks due here may have been renewed through another process. */
  private async stillDue(ds: DsStream, now: number): Promise<boolean> {
    if (ds.meta.ttlSeconds === null || ds.stored.lastAccess === undefined) return true;
    const elsewhere = await ds.stored.lastAccess();
    if (elsewhere !== undefined && elsewhere > ds.lastAccessMs) ds.lastAccessMs = elsewhere;
    return now >= ds.expiresAtMs();
  }

  /** Runs `task` with no other create or delete of `path` in progress. */
  async exclusive<T>(path: string, task: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(path) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(task);
    const settled = run.catch(() => undefined);
    this.locks.set(path, settled);
    try {
      return await run;
    } finally {
      if (this.locks.get(path) === settled) this.locks.delete(path);
    }
  }

  /** Creates the journal stream and its metadata in one atomic step. */
  async create(path: string, meta: DsMeta): Promise<DsStream> {
    const stream = await this.store.create(path, { ds: meta }, this.options.streamLimits);
    const ds = new DsStream(path, stream, meta, emptyState(), this.options.clock());
    this.streams.set(path, ds);
    if (meta.fork !== null) {
      const source = this.streams.get(meta.fork.source);
      if (source !== undefined) source.forks++;
    }
    return ds;
  }

  /** DELETE: soft while forks read through the stream, hard (and cascading) otherwise. */
  async delete(ds: DsStream): Promise<void> {
    // Forks made through other processes count too.
    if (this.store.forks !== undefined) ds.forks = await this.store.forks(ds.path);
    if (ds.forks > 0) {
      await ds.saveMeta({ ...ds.meta, softDeleted: true });
      // Shared: a record after it makes appends in flight elsewhere lose their compare-and-set,
      // so they catch up, see the soft delete and answer 410.
      await ds.stored.appendChange?.(encodeChange({}));
      ds.notify();
      return;
    }
    await this.remove(ds);
  }

  /** Every stream past its TTL or Expires-At (the sweeper's work; requests check lazily too). */
  async expireDue(): Promise<number> {
    const now = this.options.clock();
    let expired = 0;
    for (const ds of [...this.streams.values()]) {
      if (!ds.deleted && !ds.meta.softDeleted && now >= ds.expiresAtMs()) {
        if (!(await this.stillDue(ds, now).catch(() => false))) continue;
        await this.expire(ds).catch(() => undefined);
        expired++;
      }
    }
    return expired;
  }

  /** Saves every stream's coordination state (at shutdown). */
  async snapshotAll(): Promise<void> {
    for (const ds of this.streams.values()) await ds.snapshot().catch(() => undefined);
  }

  private expire(ds: DsStream): Promise<void> {
    return this.exclusive(ds.path, async () => {
      if (ds.deleted || ds.meta.softDeleted) return;
      await this.delete(ds);
    });
  }

  private async remove(ds: DsStream): Promise<void> {
    ds.deleted = true;
    this.streams.delete(ds.path);
    ds.notify();
    await this.store.delete(ds.path);
    const source = ds.meta.fork === null ? undefined : this.streams.get(ds.meta.fork.source);
    if (source === undefined) return;
    source.forks =
      this.store.forks === undefined ? source.forks - 1 : await this.store.forks(source.path);
    if (source.forks === 0 && source.meta.softDeleted) await this.remove(source);
  }
}

/** The metadata of a journal stream; streams the library wrote are byte streams. */
function metaOf(stream: StoredStream): DsMeta {
  const stored = (stream.meta as { ds?: DsMeta }).ds;
  if (stored !== undefined) return stored;
  return {
    contentType: DEFAULT_CONTENT_TYPE,
    ttlSeconds: null,
    expiresAt: null,
    incarnation: `j${stream.info().createdAt.toString(36)}`,
    softDeleted: false,
    fork: null,
  };
}

export function newIncarnation(): string {
  return randomBytes(6).toString("hex");
}
