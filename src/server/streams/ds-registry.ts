/**
 * All Durable Streams streams of a server, by path, with their lifecycle: create (plain, closed,
 * or as a fork), delete (soft while forks read through it, hard otherwise, cascading), and expiry
 * (TTL or Expires-At). A path's journal stream is named after the path itself, so the library
 * and the CLI see the same names. Fork reference counts are derived from the forks at startup,
 * never stored, so they cannot drift from the data after a crash.
 */

import { randomBytes } from "node:crypto";
import { OUTBOX_PREFIX } from "../../outbox/index.js";
import type { Journal, Stream, StreamLimits } from "../../storage/index.js";
import { DEFAULT_CONTENT_TYPE } from "./content-type.js";
import { type DsMeta, DsStream } from "./ds-stream.js";
import { emptyState } from "./producer-state.js";
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

  constructor(
    readonly journal: Journal,
    private readonly options: RegistryOptions,
  ) {}

  /** Loads every stream of the journal (streams written by the library read as bytes). */
  async load(): Promise<void> {
    const now = this.options.clock();
    for (const name of this.journal.list()) {
      // The server's own streams (subscriptions…) and outboxes' are not Durable Streams.
      if (name.startsWith(RESERVED_PREFIX) || name.startsWith(OUTBOX_PREFIX)) continue;
      const stream = await this.journal.stream(name);
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
   * The stream at `path` for a request: expires it first if due; 404 if missing, 410 if it only
   * lives on as the source of forks. `touch` renews a sliding TTL (every access but HEAD).
   */
  async live(path: string, touch: boolean): Promise<DsStream> {
    const ds = this.streams.get(path);
    if (ds === undefined) throw streamNotFound(path);
    const now = this.options.clock();
    if (!ds.meta.softDeleted && now >= ds.expiresAtMs()) await this.expire(ds);
    if (ds.deleted) throw streamNotFound(path);
    if (ds.meta.softDeleted) throw streamGone(path);
    if (touch) ds.touch(now);
    return ds;
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
    if (this.journal.list().includes(path)) {
      // Left over by an interrupted delete of this path: a new incarnation starts empty.
      await this.journal.deleteStream(path);
    }
    const stream = await this.journal.stream(path, {
      ...(this.options.streamLimits === undefined ? {} : { limits: this.options.streamLimits }),
      meta: { ds: meta },
    });
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
    if (ds.forks > 0) {
      await ds.saveMeta({ ...ds.meta, softDeleted: true });
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
    await this.journal.deleteStream(ds.path);
    const source = ds.meta.fork === null ? undefined : this.streams.get(ds.meta.fork.source);
    if (source === undefined) return;
    source.forks--;
    if (source.forks === 0 && source.meta.softDeleted) await this.remove(source);
  }
}

/** The metadata of a journal stream; streams the library wrote are byte streams. */
function metaOf(stream: Stream): DsMeta {
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
