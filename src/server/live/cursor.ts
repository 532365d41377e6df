/**
 * Stream-Cursor values for live reads (PROTOCOL.md §10.1): the number of 20-second intervals
 * since 2024-10-09T00:00:00Z, as a decimal string. When a client echoes a cursor at or past the
 * current interval, the answer jumps ahead by a random 1-3600 s, so a cached response can never
 * loop a client on the same URL.
 */
const EPOCH_MS = Date.UTC(2024, 9, 9);
const INTERVAL_MS = 20_000;
const JITTER_SECONDS_MAX = 3600;

export function responseCursor(clientCursor: string | undefined, nowMs: number): string {
  const current = Math.floor((nowMs - EPOCH_MS) / INTERVAL_MS);
  if (clientCursor === undefined || !/^\d{1,15}$/.test(clientCursor)) return String(current);
  const echoed = Number(clientCursor);
  if (echoed < current) return String(current);
  const jitterSeconds = 1 + Math.floor(Math.random() * JITTER_SECONDS_MAX);
  return String(echoed + Math.max(1, Math.ceil((jitterSeconds * 1000) / INTERVAL_MS)));
}
