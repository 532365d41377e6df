/**
 * Entries as the API and the CLI show them: pending (or in flight), conflicts, dead letters.
 */

import type { UpstreamAnswer } from "../upstreams/upstream.js";
import type { EntryMeta } from "./entry.js";
import type { HeldEntry, HeldKind, PendingEntry } from "./outbox-records.js";

/** A pending entry, or a conflict or dead letter, as the API and the CLI show it. */
export interface OutboxEntryInfo {
  id: string;
  state: "pending" | "in-flight" | HeldKind;
  key: string | null;
  method: string;
  target: string;
  headers: Record<string, string>;
  precondition: EntryMeta["precondition"];
  enqueuedAt: number;
  attempts: number;
  bodyBytes: number;
  lastError: string | null;
  /** For conflicts and dead letters. */
  reason?: string;
  answer?: UpstreamAnswer | null;
  heldAt?: number;
}

export function pendingInfo(entry: PendingEntry, inFlight: boolean): OutboxEntryInfo {
  return {
    id: entry.id,
    state: inFlight ? "in-flight" : "pending",
    key: entry.meta.key,
    method: entry.meta.method,
    target: entry.meta.target,
    headers: entry.meta.headers,
    precondition: entry.meta.precondition,
    enqueuedAt: entry.meta.enqueuedAt,
    attempts: entry.attempts,
    bodyBytes: entry.bodyBytes,
    lastError: entry.lastError,
  };
}

export function heldInfo(held: HeldEntry): OutboxEntryInfo {
  return {
    id: held.id,
    state: held.kind,
    key: held.meta.key,
    method: held.meta.method,
    target: held.meta.target,
    headers: held.meta.headers,
    precondition: held.meta.precondition,
    enqueuedAt: held.meta.enqueuedAt,
    attempts: held.attempts,
    bodyBytes: held.bodyBytes,
    lastError: null,
    reason: held.reason,
    answer: held.answer,
    heldAt: held.heldAt,
  };
}
