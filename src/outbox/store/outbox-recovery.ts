/**
 * Rebuilding an outbox's state from its three streams (docs/format.md §13, "Recovery"): the log
 * (what is resolved above the mark, counted attempts, sequences), then the held stream (open
 * conflicts and dead letters, and the entries they resolve), then the entries above the mark:
 * each not resolved is pending, in seq order.
 */
import type { Stream } from "../../storage/index.js";
import { decodeMeta } from "./entry.js";
import type {
  HeldEntry,
  HeldRecord,
  LogRecord,
  PendingEntry,
  ResolutionRecord,
} from "./outbox-records.js";
import { SeqRanges } from "./seq-ranges.js";

export interface RecoveredOutbox {
  pending: Map<number, PendingEntry>;
  held: Map<string, HeldEntry>;
  /** Entries above the mark that are resolved. */
  resolved: SeqRanges;
  /** The last entry seq. */
  highestSeq: number;
  nextSequence: Map<string, number>;
  logRecordsSinceSnapshot: number;
  /** Held records a pending entry retries, whose resolution was never written. */
  unrecordedRetries: number[];
}

export async function recoverOutbox(
  entries: Stream,
  log: Stream,
  heldStream: Stream,
  mark: number,
): Promise<RecoveredOutbox> {
  const out: RecoveredOutbox = {
    pending: new Map(),
    held: new Map(),
    resolved: new SeqRanges(),
    highestSeq: entries.info().lastSeq,
    nextSequence: new Map(),
    logRecordsSinceSnapshot: 0,
    unrecordedRetries: [],
  };
  // 1. The log: what is resolved above the mark, counted attempts, sequences.
  const failures = new Map<number, { n: number; err: string; at: number }>();
  const assigned = new Map<number, { k: string; q: number }>();
  for await (const record of log.read()) {
    const entry = JSON.parse(Buffer.from(record.payload).toString("utf8")) as LogRecord;
    out.logRecordsSinceSnapshot++;
    if (entry.t === "s") {
      out.resolved = SeqRanges.from(entry.done);
      failures.clear();
      assigned.clear();
      out.nextSequence.clear();
      for (const [seq, n, err, at] of entry.f) failures.set(seq, { n, err, at });
      for (const [seq, k, q] of entry.q) assigned.set(seq, { k, q });
      for (const [k, next] of entry.next) out.nextSequence.set(k, next);
      out.logRecordsSinceSnapshot = 0;
    } else if (entry.t === "x") {
      out.resolved.add(entry.e);
      if (entry.k !== undefined && entry.n !== undefined) out.nextSequence.set(entry.k, entry.n);
    } else if (entry.t === "d" || entry.t === "D") {
      for (const seq of entry.t === "d" ? [entry.e] : entry.e) {
        out.resolved.add(seq);
        const sequence = assigned.get(seq);
        if (sequence !== undefined) out.nextSequence.set(sequence.k, sequence.q + 1);
      }
    } else if (entry.t === "f") {
      failures.set(entry.e, { n: entry.n, err: entry.err, at: entry.at });
    } else if (entry.t === "q") {
      assigned.set(entry.e, { k: entry.k, q: entry.q });
    }
  }
  // 2. Held entries: open ones, and the entries they resolve.
  const heldBySeq = new Map<number, HeldEntry>();
  for await (const record of heldStream.read()) {
    const attributes = record.attributes;
    if (attributes === undefined) continue;
    const item = JSON.parse(Buffer.from(attributes).toString("utf8")) as
      | HeldRecord
      | ResolutionRecord;
    if (item.t === "h") {
      out.resolved.add(item.e);
      if (item.q !== undefined && item.q !== null && item.attempts > 0) {
        // Its sequence may have been applied: never given to another entry (see hold()).
        const key = item.meta.target;
        out.nextSequence.set(key, Math.max(out.nextSequence.get(key) ?? 0, item.q + 1));
      }
      heldBySeq.set(record.seq, {
        heldSeq: record.seq,
        kind: item.kind,
        id: item.id,
        entrySeq: item.e,
        meta: item.meta,
        reason: item.reason,
        answer: item.answer,
        attempts: item.attempts,
        heldAt: item.at,
        bodyBytes: record.payload.byteLength,
      });
    } else {
      heldBySeq.delete(item.h);
    }
  }
  // 3. The entries above the mark that are not resolved are pending.
  for await (const record of entries.read({ after: mark })) {
    const meta = decodeMeta(record.attributes);
    if (meta === undefined) continue; // not an entry (cannot happen unless written by hand)
    if (meta.retryOf !== null && heldBySeq.has(meta.retryOf)) {
      heldBySeq.delete(meta.retryOf); // retried, but the resolution was not written
      out.unrecordedRetries.push(meta.retryOf);
    }
    if (out.resolved.has(record.seq)) continue;
    const failure = failures.get(record.seq);
    const sequence = assigned.get(record.seq);
    out.pending.set(record.seq, {
      seq: record.seq,
      id: meta.id ?? String(record.seq),
      meta,
      bodyBytes: record.payload.byteLength,
      attempts: failure?.n ?? 0,
      lastError: failure?.err ?? null,
      lastErrorAt: failure?.at ?? null,
      sequence: sequence?.q ?? null,
    });
  }
  for (const held of heldBySeq.values()) out.held.set(held.id, held);
  return out;
}
