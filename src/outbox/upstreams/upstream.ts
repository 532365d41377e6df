/**
 * Where an outbox delivers: one small interface, so upstreams can be added (HTTP, Durable
 * Streams and NATS JetStream today). An upstream never throws for what the other side answered: it classifies the
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
  /**
   * The caller checked that the upstream does not hold this delivery (a mirror reading the
   * last message of its target): send it even if an earlier attempt went unanswered long ago.
   */
  knownAbsent?: boolean;
}

/** What an outbox or mirror tells its upstream when it opens. */
export interface UpstreamSettings {
  /** The longest wait between two attempts of a delivery. */
  backoffMaxMs: number;
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
  /**
   * True when the upstream itself stores a repeat of an idempotency key once (JetStream's
   * Nats-Msg-Id): a mirror can use it without `sequence`.
   */
  readonly deduplicates?: boolean;
  /** Called by the outbox or mirror when it opens, with how it retries. */
  attach?(settings: UpstreamSettings): void;
  /**
   * The idempotency key of the last delivery the target holds (null when none): a mirror that
   * is the target's only writer resumes from it.
   */
  lastDelivered?(target: string, signal: AbortSignal): Promise<string | null>;
  deliver(delivery: Delivery, signal: AbortSignal): Promise<Outcome>;
  close?(): Promise<void>;
}

/** How much of an answer's body is kept with a conflict or dead letter. */
export const ANSWER_BODY_CHARS_MAX = 1024;
