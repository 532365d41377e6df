/**
 * What an outbox keeps, in memory and in its streams' records (docs/format.md §13).
 */

import type { UpstreamAnswer } from "../upstreams/upstream.js";
import type { EntryMeta } from "./entry.js";

export interface PendingEntry {
  /** Seq of the entry's record in the entries stream. */
  seq: number;
  id: string;
  meta: EntryMeta;
  bodyBytes: number;
  /** Failed attempts counted against `attemptsMax` (not those made while the upstream was down). */
  attempts: number;
  lastError: string | null;
  lastErrorAt: number | null;
  /** The entry's sequence within its key, for a sequenced upstream (fixed at first attempt). */
  sequence: number | null;
}

export type HeldKind = "conflict" | "dead";

export interface HeldEntry {
  /** Seq of the held record. */
  heldSeq: number;
  kind: HeldKind;
  id: string;
  /** Seq of the entry it was moved from. */
  entrySeq: number;
  meta: EntryMeta;
  reason: string;
  answer: UpstreamAnswer | null;
  attempts: number;
  heldAt: number;
  bodyBytes: number;
}

export interface HeldRecord {
  t: "h";
  /** The entry's sequence, for a sequenced upstream. */
  q?: number | null;
  kind: HeldKind;
  e: number;
  id: string;
  meta: EntryMeta;
  reason: string;
  answer: UpstreamAnswer | null;
  attempts: number;
  at: number;
}

export interface ResolutionRecord {
  t: "r";
  h: number;
  action: "retry" | "discard";
  at: number;
}

export type LogRecord =
  | { t: "d"; e: number }
  /** Several delivered entries, logged together (at most every LOG_BATCH_MS). */
  | { t: "D"; e: number[] }
  | { t: "f"; e: number; n: number; err: string; at: number }
  | { t: "q"; e: number; k: string; q: number }
  /** Resolved without delivery (moved to held): the held record may be trimmed later. With
   * `k` and `n`: the next sequence of key `k` is `n` (its sequence may have been applied). */
  | { t: "x"; e: number; k?: string; n?: number }
  | {
      t: "s";
      /** Resolved entries above the mark, as [first, last] ranges (or single seqs). */
      done: Array<number | [number, number]>;
      f: Array<[number, number, string, number]>;
      q: Array<[number, string, number]>;
      next: Array<[string, number]>;
    };
