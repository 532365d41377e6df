/**
 * Where an outbox delivers: one small interface, so upstreams can be added (HTTP and Durable
 * Streams today). An upstream never throws for what the other side answered: it classifies the
 * answer, and the outbox decides what happens to the entry.
 */
import type { StoredPrecondition } from "../store/entry.js";

export interface Delivery {
  /** The entry's id (stable across attempts and retries). */
  id: string;
  key: string | null;
  method: string;
  target: string;
  headers: Readonly<Record<string, string>>;
  body: Uint8Array;
  precondition: StoredPrecondition | null;
  /** The same for every attempt of the entry: the upstream's duplicate detection uses it. */
  idempotencyKey: string;
  /** For a `sequenced` upstream: the entry's number within its key, fixed at its first attempt. */
  sequence: number;
  /** Who sends: stable for the outbox (or mirror) across restarts, unique to it. */
  source: string;
  /** 1 for the first attempt. */
  attempt: number;
}

/** What the upstream answered, kept with a conflict or dead letter. */
export interface UpstreamAnswer {
  status: number;
  headers: Record<string, string>;
  /** The first bytes of the body, as text. */
  body: string;
}

export type Outcome =
  | { kind: "delivered"; status: number }
  /** A transient failure: try again later (`retryAfterMs` when the upstream said when). */
  | { kind: "retry"; error: string; status?: number; retryAfterMs?: number; throttled?: boolean }
  /** The precondition failed: the entry goes to conflicts with the answer. */
  | { kind: "conflict"; answer: UpstreamAnswer }
  /** Rejected for good: the entry goes to dead letters with the reason. */
  | { kind: "rejected"; reason: string; answer?: UpstreamAnswer };

export interface Upstream {
  /** For logs and stats: where it delivers. */
  readonly description: string;
  /**
   * True when deliveries need `sequence`: numbers that are contiguous per key from 0 (the
   * outbox then orders entries by target, using the target as the key).
   */
  readonly sequenced: boolean;
  deliver(delivery: Delivery, signal: AbortSignal): Promise<Outcome>;
  close?(): Promise<void>;
}

/** How much of an answer's body is kept with a conflict or dead letter. */
export const ANSWER_BODY_CHARS_MAX = 1024;
