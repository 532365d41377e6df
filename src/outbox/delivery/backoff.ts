/**
 * Retry timing: capped exponential backoff with jitter, and `Retry-After` as the upstream gives
 * it (seconds, or an HTTP date).
 */

export interface BackoffOptions {
  /** The first retry waits about this long (default 200 ms). */
  initialMs?: number;
  /** No wait is longer (default 60 s), Retry-After included. */
  maxMs?: number;
}

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

export const BACKOFF_DEFAULTS: Backoff = { initialMs: 200, maxMs: 60_000 };

/**
 * The wait before attempt `failures + 1`: half of the capped exponential, plus a random share
 * of the other half ("equal jitter": never zero, so a down upstream is never hammered, and
 * spread, so entries that failed together do not retry together).
 */
export function backoffMs(backoff: Backoff, failures: number, random = Math.random): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 40);
  const capped = Math.min(backoff.maxMs, backoff.initialMs * 2 ** exponent);
  return Math.round(capped / 2 + random() * (capped / 2));
}

/** `Retry-After` in ms from now, or undefined when absent or malformed. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (!Number.isFinite(at)) return undefined;
  return Math.max(0, at - nowMs);
}
