/**
 * Listing Durable Streams in JetStream without opening them (the admin API's stream list). The
 * names come from the metadata stream's subject list (one request, paged by the client; about
 * 35 ms for 10,000 streams here, docs/jetstream.md); a page's metadata, and the last use of
 * those with a sliding TTL, come from batch direct gets with `multi_last` over the page's
 * subjects, SUBJECTS_PER_REQUEST at a time, so a page costs O(page), not O(streams).
 */

import { isNoResults } from "./jetstream-browse.js";
import type { JetStreamContext } from "./jetstream-reads.js";
import { parseMeta } from "./jetstream-reads.js";
import { patiently } from "./nats-calls.js";

/** Subjects per `multi_last` request (the server refuses batches of more than about 1,024). */
const SUBJECTS_PER_REQUEST = 256;

export interface JetStreamSummary {
  name: string;
  meta: Record<string, unknown>;
  createdAt: number;
  lastAccessMs?: number;
}

/** The metadata of `names`, in the order given; a stream with no metadata is left out. */
export async function summariesOf(
  ctx: JetStreamContext,
  names: readonly string[],
): Promise<JetStreamSummary[]> {
  const summaries: JetStreamSummary[] = [];
  const half = SUBJECTS_PER_REQUEST / 2;
  for (let start = 0; start < names.length; start += half) {
    const chunk = names.slice(start, start + half);
    const subjects = chunk.flatMap((name) => [ctx.subjects.meta(name), ctx.subjects.access(name)]);
    const found = await lastMessages(ctx, subjects);
    for (const name of chunk) {
      const message = found.get(ctx.subjects.meta(name));
      const state = message === undefined ? undefined : parseMeta(message.data, message.seq);
      if (state === undefined) continue;
      const summary: JetStreamSummary = { name, meta: state.meta, createdAt: state.createdAt };
      const access = found.get(ctx.subjects.access(name));
      const ms = access === undefined ? Number.NaN : Number(Buffer.from(access.data).toString());
      if (Number.isFinite(ms)) summary.lastAccessMs = ms;
      summaries.push(summary);
    }
  }
  return summaries;
}

async function lastMessages(
  ctx: JetStreamContext,
  subjects: string[],
): Promise<Map<string, { data: Uint8Array; seq: number }>> {
  return patiently("a stream listing", ctx.patienceMs, async () => {
    const found = new Map<string, { data: Uint8Array; seq: number }>();
    try {
      const iterator = await ctx.jsm.direct.getLastMessagesFor(ctx.subjects.metaStream, {
        multi_last: subjects,
        batch: subjects.length,
      });
      for await (const message of iterator) {
        found.set(message.subject, { data: message.data, seq: message.seq });
      }
    } catch (err) {
      if (!isNoResults(err)) throw err;
    }
    return found;
  });
}
