/**
 * The rules a subscription's wakes follow, as pure decisions on its state (subscription-book.ts)
 * and the tails of its streams read just before: whether there is work, a new wake (one
 * generation up, its snapshot of the tails), the fence a worker's request must pass, and the
 * checks every request makes. Pure, because a shared book may run a decision again on a newer
 * state.
 */
import { randomBytes } from "node:crypto";
import { TidemarkError } from "../../errors.js";
import type { SubscriptionState, WakeState } from "./subscription-book.js";
import { wakeIsOn } from "./subscription-book.js";
import { type StreamInfo, streamInfos } from "./subscription-view.js";
import { digestOf, sameDigest } from "./wake-tokens.js";

export const SUBSCRIPTIONS_MAX = 1000;
export const STREAMS_PER_SUBSCRIPTION_MAX = 10_000;

/** Tails of streams by path, read from the store just before a decision. */
export type Tails = Map<string, number>;

export function newWake(state: SubscriptionState, tails: Tails): WakeState {
  state.stored.generation += 1;
  return {
    id: `w_${randomBytes(12).toString("hex")}`,
    generation: state.stored.generation,
    token: "",
    holder: null,
    leaseUntil: null,
    snapshot: [...state.stored.links.keys()].map((path) => [path, tails.get(path) ?? 0]),
  };
}

/** The wake a request names, if it is the current one and the token is its token; else 409. */
export function fence(
  state: SubscriptionState,
  token: string | undefined,
  input: unknown,
  nowMs: number,
): WakeState {
  const body = (input ?? {}) as { wake_id?: unknown; generation?: unknown };
  const wake = state.wake;
  if (
    !wakeIsOn(wake, nowMs) ||
    token === undefined ||
    !sameDigest(digestOf(token), wake.token) ||
    body.wake_id !== wake.id ||
    body.generation !== wake.generation
  ) {
    throw new TidemarkError("FENCED", "this wake is over: a newer one (or none) is current");
  }
  return wake;
}

export function pendingIn(state: SubscriptionState, tails: Tails): boolean {
  for (const [path, link] of state.stored.links)
    if ((tails.get(path) ?? 0) > link.acked) return true;
  return false;
}

export function infos(state: SubscriptionState, tails: Tails): StreamInfo[] {
  return streamInfos(state.stored, (path) => tails.get(path) ?? 0);
}

export function checked(
  state: SubscriptionState | undefined,
  id: string,
  type?: "webhook" | "pull-wake",
): SubscriptionState {
  if (state === undefined) throw notFound(id);
  if (type !== undefined && state.stored.config.type !== type)
    throw new TidemarkError("INVALID_REQUEST", `not a ${type} subscription`);
  return state;
}

export function notFound(id: string): TidemarkError {
  return new TidemarkError("SUBSCRIPTION_NOT_FOUND", `no subscription ${id}`);
}

export function checkLinkCount(links: number): void {
  if (links > STREAMS_PER_SUBSCRIPTION_MAX) {
    throw new TidemarkError(
      "TOO_MANY_STREAMS",
      `a subscription links at most ${STREAMS_PER_SUBSCRIPTION_MAX} streams`,
    );
  }
}
