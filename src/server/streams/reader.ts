/**
 * Reading messages by position, through fork chains: a fork shows its source's messages up to
 * the fork offset, then its own (PROTOCOL.md §4.2). Reads are bounded by bytes: a response holds
 * at most `bytesMax` (but always at least one message), and says whether it reached the tail,
 * so memory stays flat however large the stream. The newest messages of a stream with live
 * readers come from memory when they are there (recent-messages.ts).
 */

import { TidemarkError } from "../../errors.js";
import type { DsRegistry } from "./ds-registry.js";
import type { DsStream } from "./ds-stream.js";

export interface Collected {
  parts: Uint8Array[];
  bytes: number;
  /** The position after the last message returned (the start position if none). */
  end: number;
  /** True when `end` is the stream's tail (or the cap). */
  complete: boolean;
}

export async function collect(
  registry: DsRegistry,
  ds: DsStream,
  from: number,
  bytesMax: number,
  cap = Number.POSITIVE_INFINITY,
): Promise<Collected> {
  const out: Collected = { parts: [], bytes: 0, end: from, complete: false };
  const stop = Math.min(cap, ds.tail);
  if (from >= stop) {
    out.complete = true;
    return out;
  }
  let position = from;
  if (ds.meta.fork !== null && position < ds.base) {
    const source = registry.peek(ds.meta.fork.source);
    if (source === undefined) {
      throw new TidemarkError(
        "GONE",
        `the source of fork ${ds.path} is gone; its inherited data cannot be read`,
      );
    }
    const inherited = await collect(registry, source, position, bytesMax, ds.base);
    out.parts.push(...inherited.parts);
    out.bytes += inherited.bytes;
    out.end = inherited.end;
    if (!inherited.complete || out.bytes >= bytesMax) return out;
    position = ds.base;
  }
  if (position < ds.firstOwnPosition) {
    throw new TidemarkError(
      "CURSOR_EXPIRED",
      `offset ${position} of ${ds.path} is no longer retained; the oldest held is ${ds.firstOwnPosition}`,
    );
  }
  const recent = ds.recentAfter(position, stop, bytesMax - out.bytes);
  if (recent !== undefined) {
    out.parts.push(...recent.parts);
    out.bytes += recent.bytes;
    out.end = recent.end;
    out.complete = out.end >= stop;
    return out;
  }
  let readToEnd = true;
  for await (const record of ds.stored.read(position - ds.base)) {
    const at = ds.base + record.seq;
    readToEnd = false;
    if (at > stop) break;
    out.parts.push(record.payload);
    out.bytes += record.payload.byteLength;
    out.end = at;
    if (out.bytes >= bytesMax || at === stop) break;
    readToEnd = true;
  }
  // A read that ran to the end stepped over any seqs known lost (a repaired range) up to it.
  if (readToEnd) out.end = Math.max(out.end, stop);
  out.complete = out.end >= stop;
  return out;
}

export function concat(parts: Uint8Array[], bytes: number): Buffer {
  return Buffer.concat(parts, bytes);
}

/** Records handed to the socket per batch (at most; a batch is what one read chunk holds). */
const BATCH_RECORDS_MAX = 4096;

/**
 * The payloads of every message in `[from, stop)`, through fork chains, in batches. The payload
 * views of a batch are valid only until the next batch is asked for (they point into one reused
 * read buffer): the consumer copies or sends them first (catch-up.ts).
 */
export async function* messageBatches(
  registry: DsRegistry,
  ds: DsStream,
  from: number,
  stop: number,
): AsyncGenerator<Uint8Array[]> {
  let position = from;
  if (ds.meta.fork !== null && position < ds.base) {
    const source = registry.peek(ds.meta.fork.source);
    if (source === undefined) {
      throw new TidemarkError(
        "GONE",
        `the source of fork ${ds.path} is gone; its inherited data cannot be read`,
      );
    }
    yield* messageBatches(registry, source, position, Math.min(stop, ds.base));
    position = ds.base;
  }
  if (position >= stop) return;
  if (position < ds.firstOwnPosition) {
    throw new TidemarkError(
      "CURSOR_EXPIRED",
      `offset ${position} of ${ds.path} is no longer retained; the oldest held is ${ds.firstOwnPosition}`,
    );
  }
  const reader = ds.stored.readBatches(position - ds.base);
  try {
    for (;;) {
      const batch = await reader.nextBatch(BATCH_RECORDS_MAX);
      if (batch === undefined) return;
      const payloads: Uint8Array[] = [];
      for (const record of batch) {
        if (ds.base + record.seq > stop) break;
        payloads.push(record.payload);
      }
      if (payloads.length > 0) yield payloads;
      if (payloads.length < batch.length || ds.base + batch[batch.length - 1]!.seq >= stop) return;
    }
  } finally {
    await reader.return();
  }
}
