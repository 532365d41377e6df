/**
 * The bearer tokens of one subscription's wakes (PROTOCOL.md §12.9). Each wake, and each claim
 * of one, gets a fresh random token; the newest few are remembered as digests in the
 * subscription's state (shared by every process on a shared store), so a worker presenting a
 * token of a wake that is over is told FENCED (409), while a token this subscription never issued
 * is unauthenticated (401 with auth on): it learns nothing, not even whether the subscription
 * exists. Compared in constant time; the tokens themselves are never stored.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { secretDigest } from "../http/secrets.js";

/** Wake tokens remembered per subscription. */
export const RECENT_TOKENS_MAX = 16;

export type TokenStatus = "current" | "stale" | "unknown";

/** A new token, and the digests to keep with it (the newest `RECENT_TOKENS_MAX`). */
export function issueToken(digests: readonly string[]): { token: string; digests: string[] } {
  const token = randomBytes(24).toString("base64url");
  const kept = [...digests, digestOf(token)];
  return { token, digests: kept.slice(-RECENT_TOKENS_MAX) };
}

export function digestOf(token: string): string {
  return secretDigest(token).toString("base64url");
}

/** Whether `a` and `b` are the same digest, in constant time. */
export function sameDigest(a: string, b: string): boolean {
  const left = Buffer.from(a, "base64url");
  const right = Buffer.from(b, "base64url");
  return left.byteLength === right.byteLength && timingSafeEqual(left, right);
}

/** How `presented` relates to the issued digests, `current` being the live wake's (if any). */
export function tokenStatus(
  digests: readonly string[],
  current: string | undefined,
  presented: string,
): TokenStatus {
  const digest = digestOf(presented);
  let known = false;
  for (const issued of digests) if (sameDigest(issued, digest)) known = true;
  if (!known) return "unknown";
  return current !== undefined && sameDigest(current, digest) ? "current" : "stale";
}
