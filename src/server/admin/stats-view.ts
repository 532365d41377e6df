/**
 * `GET /v1/stats`: the journal's totals against its limits, live readers, the server's counters
 * (the same ones `/metrics` exports), and what recovery repaired at open. Rates (appends/s,
 * bytes read/s) are left to the reader, who polls and divides: the server keeps no history.
 */
import type { JournalStats } from "../../storage/index.js";
import type { ServerContext } from "../context.js";
import type { StatsView } from "./wire-types.js";

const RECOVERY_SHOWN_MAX = 100;
/**
 * Answers within this long of each other share one `journal.stats()`, which visits every stream
 * (about 25 ms for 16,000 of them here) while every open dashboard asks once a second. The rest
 * of the answer (live readers, counters) is read fresh each time.
 */
const SHARED_MS = 500;
const recent = new WeakMap<ServerContext, { at: number; stats: Promise<JournalStats> }>();

function journalStats(ctx: ServerContext): Promise<JournalStats> {
  const now = performance.now();
  const last = recent.get(ctx);
  if (last !== undefined && now - last.at < SHARED_MS) return last.stats;
  const stats = ctx.registry.journal.stats();
  recent.set(ctx, { at: now, stats });
  stats.catch(() => {
    if (recent.get(ctx)?.stats === stats) recent.delete(ctx);
  });
  return stats;
}

export async function statsView(ctx: ServerContext): Promise<StatsView> {
  const journal = ctx.registry.journal;
  const stats = await journalStats(ctx);
  const limits = journal.limits;
  const { metrics } = ctx;
  const live = await metrics.live.get();
  const liveOf = (kind: string) =>
    live.values.find((value) => value.labels["kind"] === kind)?.value ?? 0;
  const requests = await metrics.requests.get();
  const recovery = journal.recovery;
  return {
    now: ctx.clock(),
    startedAt: ctx.startedAt,
    durability: journal.options.durability,
    journal: {
      streams: stats.streams,
      bytes: stats.bytes,
      records: stats.records,
      bytesMax: Number.isFinite(limits.bytesMax) ? limits.bytesMax : null,
      discard: limits.discard,
      diskFreeBytes: stats.diskFreeBytes,
      diskFreeBytesMin: limits.diskFreeBytesMin,
      oldestTimestamp: stats.oldestTimestamp,
      newestTimestamp: stats.newestTimestamp,
      evictions: stats.evictions,
      expiries: stats.expiries,
      acknowledged: stats.acknowledged,
      trimmed: stats.trimmed,
      streamsDeleted: stats.streamsDeleted,
      streamsSwept: stats.streamsSwept,
      rejected: stats.rejected,
      syncs: stats.syncs,
    },
    streams: ctx.registry.size,
    live: {
      sse: liveOf("sse"),
      longPoll: liveOf("long-poll"),
      max: ctx.limits.liveConnectionsMax,
    },
    totals: {
      appends: await total(metrics.appends),
      appendBytes: await total(metrics.appendBytes),
      readBytes: await total(metrics.readBytes),
      requests: requests.values.reduce((sum, value) => sum + value.value, 0),
    },
    recovery: recovery.slice(-RECOVERY_SHOWN_MAX).map((event) => ({ ...event })),
    recoveryEvents: recovery.length,
  };
}

async function total(counter: {
  get(): Promise<{ values: Array<{ value: number }> }>;
}): Promise<number> {
  return (await counter.get()).values.reduce((sum, value) => sum + value.value, 0);
}
