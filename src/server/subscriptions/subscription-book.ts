/**
 * Where a server keeps its subscriptions' state: the book. Subscriptions (subscriptions.ts)
 * decide; the book keeps what they decided and makes each change atomic.
 *
 * - local-subscription-book.ts: this process alone, over the journal's subscription log; wakes
 *   and leases live in memory (after a restart pending work wakes again, one generation higher).
 * - shared-subscription-book.ts: every process on one JetStream store, each subscription one
 *   shared record changed by compare-and-set; wakes, leases and token digests are part of it, so
 *   a wake made by one process is claimed, acknowledged or fenced through any other.
 */
import type { StoredSubscription } from "./subscription-log.js";

/** The wake in progress: what it covers, who holds it, until when. */
export interface WakeState {
  id: string;
  generation: number;
  /** Digest of the wake's current token (the wake's own, or its claim's). */
  token: string;
  /** The pull-wake worker that claimed it. */
  holder: string | null;
  /** When the lease ends (ms since the epoch); null while a pull wake waits for a claim. */
  leaseUntil: number | null;
  /** Tails when the wake was made: a webhook's `done` acknowledges up to them. */
  snapshot: Array<[string, number]>;
}

export interface SubscriptionState {
  stored: StoredSubscription;
  wake: WakeState | null;
  /** Digests of the newest wake tokens issued (wake-tokens.ts). */
  tokens: string[];
}

/** What a change returns: the next state, `undefined` to remove the subscription. */
export type SubscriptionChange = (
  current: SubscriptionState | undefined,
) => SubscriptionState | undefined;

export interface SubscriptionBook {
  /** The subscriptions as this process last heard of them (shared: a moment behind). */
  known(): IterableIterator<SubscriptionState>;
  readonly size: number;
  /** One subscription as the store has it now. */
  get(id: string): Promise<SubscriptionState | undefined>;
  /**
   * Changes one subscription atomically. `change` gets a copy of the current state to edit and
   * returns the next one (what did not change is not written again). When
   * another process changed the subscription first, `change` runs again on the newer state, so
   * it must decide from what it is given, nothing else. Resolves with the state written.
   */
  update(id: string, change: SubscriptionChange): Promise<SubscriptionState | undefined>;
  /**
   * `changed` when another process changed a subscription (`state` undefined: removed; `isNew`:
   * one this process had not heard of).
   */
  onChange(
    changed: (id: string, state: SubscriptionState | undefined, isNew: boolean) => void,
  ): void;
  close(): void;
}

export function copyState(state: SubscriptionState): SubscriptionState {
  return structuredClone(state);
}

/** Whether the wake is still on at `nowMs` (its lease, if running, not over). */
export function wakeIsOn(wake: WakeState | null, nowMs: number): wake is WakeState {
  return wake !== null && (wake.leaseUntil === null || wake.leaseUntil > nowMs);
}
