/**
 * Read-ahead for catch-up reads. A client catching up asks for the next chunk only once it has
 * the previous one, so without read-ahead the disk and the network take turns. After a response
 * that did not reach the tail, the next chunk is read while that response is on the wire, and
 * kept briefly for the request that continues from its end. Bounded by a byte budget across all
 * streams (a chunk is at most `readBytesMax`) and by a lifetime; at most one per stream.
 */
import type { DsRegistry } from "../streams/ds-registry.js";
import type { DsStream } from "../streams/ds-stream.js";
import { type Collected, collect } from "../streams/reader.js";

interface Ahead {
  from: number;
  result: Promise<Collected | undefined>;
  timer: NodeJS.Timeout;
}

export class ReadAhead {
  private readonly ahead = new Map<DsStream, Ahead>();

  constructor(
    private readonly registry: DsRegistry,
    /** How many chunks may be held at once, across all streams. */
    private readonly chunksMax: number,
    private readonly lifetimeMs: number,
  ) {}

  /** Starts reading the chunk after `from` (the end of a response that was not complete). */
  start(ds: DsStream, from: number, bytesMax: number): void {
    if (this.ahead.size >= this.chunksMax && !this.ahead.has(ds)) return;
    this.drop(ds);
    const result = collect(this.registry, ds, from, bytesMax).catch(() => undefined);
    const timer = setTimeout(() => this.drop(ds), this.lifetimeMs);
    timer.unref();
    this.ahead.set(ds, { from, result, timer });
  }

  /**
   * The chunk read ahead from `from`, if there is one and it is still valid; `undefined` means
   * read it now. Its `complete` is brought up to date (more may have been appended since).
   */
  async take(ds: DsStream, from: number): Promise<Collected | undefined> {
    const ahead = this.ahead.get(ds);
    if (ahead === undefined || ahead.from !== from) return undefined;
    this.drop(ds);
    const result = await ahead.result;
    if (result === undefined || result.parts.length === 0 || ds.deleted) return undefined;
    // Released by retention since it was read: read again, so the client gets its 410.
    if (ds.meta.fork === null && from < ds.firstOwnPosition) return undefined;
    result.complete = result.end >= ds.tail;
    return result;
  }

  private drop(ds: DsStream): void {
    const ahead = this.ahead.get(ds);
    if (ahead === undefined) return;
    clearTimeout(ahead.timer);
    this.ahead.delete(ds);
  }

  clear(): void {
    for (const ahead of this.ahead.values()) clearTimeout(ahead.timer);
    this.ahead.clear();
  }
}
