/**
 * `/v1/stats` polled about every second for the whole time the page is open (not only while the
 * overview shows), turned into rates, and the last HISTORY_SECONDS of them kept for the charts:
 * switching pages and back keeps the history. The server keeps none; a new page starts empty.
 */
import { useEffect, useState } from "preact/hooks";
import type { StatsView } from "../../src/server/admin/wire-types.js";
import { ApiError, api } from "./api.js";

export const HISTORY_SECONDS = 300;
const POLL_MS = 1000;

export interface Rates {
  /** Seconds since the epoch (uPlot's x scale). */
  t: number[];
  appends: number[];
  appendBytes: number[];
  readBytes: number[];
}

export interface FeedState {
  latest: StatsView | null;
  error: ApiError | null;
  rates: Rates;
  /** Bumped on every change, so components re-render. */
  version: number;
}

const state: FeedState = {
  latest: null,
  error: null,
  rates: { t: [], appends: [], appendBytes: [], readBytes: [] },
  version: 0,
};
const listeners = new Set<() => void>();
let timer: ReturnType<typeof setTimeout> | undefined;
let running = false;

function changed(): void {
  state.version++;
  for (const listener of listeners) listener();
}

function record(next: StatsView): void {
  const previous = state.latest;
  state.latest = next;
  state.error = null;
  if (previous === null || next.now <= previous.now) return;
  const seconds = (next.now - previous.now) / 1000;
  const delta = (pick: (s: StatsView) => number) => (pick(next) - pick(previous)) / seconds;
  const appends = delta((s) => s.totals.appends);
  // Counters start over when the server restarts: no rate across that gap.
  if (appends < 0 || next.startedAt !== previous.startedAt) return;
  const { rates } = state;
  rates.t.push(next.now / 1000);
  rates.appends.push(appends);
  rates.appendBytes.push(delta((s) => s.totals.appendBytes));
  rates.readBytes.push(delta((s) => s.totals.readBytes));
  const oldest = next.now / 1000 - HISTORY_SECONDS;
  let drop = 0;
  while (drop < rates.t.length && rates.t[drop]! < oldest) drop++;
  if (drop > 0) {
    for (const series of [rates.t, rates.appends, rates.appendBytes, rates.readBytes]) {
      series.splice(0, drop);
    }
  }
}

async function poll(): Promise<void> {
  try {
    record(await api.stats());
  } catch (err) {
    state.error = err instanceof ApiError ? err : new ApiError(0, "INTERNAL", String(err));
    // A token without read access to every stream will not get it by asking again.
    if (state.error.status === 403) running = false;
  }
  changed();
  if (running) timer = setTimeout(() => void poll(), POLL_MS);
}

export const statsFeed = {
  start(): void {
    if (running) return;
    running = true;
    void poll();
  },
  stop(): void {
    running = false;
    clearTimeout(timer);
  },
  /** Starts over (after signing in with another token). */
  reset(): void {
    state.latest = null;
    state.error = null;
    state.rates = { t: [], appends: [], appendBytes: [], readBytes: [] };
    changed();
  },
};

export function useStatsFeed(): FeedState {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const listener = () => setVersion(state.version);
    listeners.add(listener);
    return () => listeners.delete(listener);
  }, []);
  return state;
}
