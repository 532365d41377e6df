/**
 * Reading a JetStream-backed stream the way the admin message browser pages it: backwards from a
 * seq (the newest page, the page before) and from a time. Positions have gaps between messages
 * (jetstream-stream.ts), so "the N records before seq S" is not an arithmetic start: it walks
 * back one message at a time, each step the last message of the stream's subject at or below a
 * sequence (a batch direct get with `multi_last` and `up_to_seq`, nats-server 2.11+). A time
 * start is one direct get of the subject's first message at or after it (`start_time`).
 */
import type { StoredMsg } from "@nats-io/jetstream";
import { type JetStreamContext, RECORDS_PER_MESSAGE_MAX } from "./jetstream-reads.js";
import { patiently } from "./nats-calls.js";
import { decodeFrames } from "./record-frames.js";

export interface BrowsedRecord {
  seq: number;
  payload: Uint8Array;
  attributes: Uint8Array | undefined;
  timestamp: number;
}

/** Where a stream's records live: its path, the incarnation's start, its base (a fork's offset). */
export interface BrowsedStream {
  name: string;
  dataAfter: number;
  base: number;
}

/**
 * The last `count` records with seq < `before`, oldest first. Bounded: at most `count` messages
 * with records are read, plus as many record-less ones (closes) again, then it stops short.
 */
export async function recordsBefore(
  ctx: JetStreamContext,
  stream: BrowsedStream,
  before: number,
  count: number,
): Promise<BrowsedRecord[]> {
  const end = stream.base + before; // positions below this
  if (count <= 0 || end <= 1) return [];
  const pages: BrowsedRecord[][] = [];
  let have = 0;
  let upTo = Math.floor((end - 1) / RECORDS_PER_MESSAGE_MAX);
  for (let steps = 0; have < count && upTo > stream.dataAfter && steps < 2 * count; steps++) {
    const message = await lastUpTo(ctx, ctx.subjects.data(stream.name), upTo);
    if (message === null || message.seq <= stream.dataAfter) break;
    const page = recordsOf(message, stream).filter((record) => record.seq < before);
    pages.push(page);
    have += page.length;
    upTo = message.seq - 1;
  }
  return pages.reverse().flat().slice(-count);
}

/** The sequence of the stream's first message committed at or after `ms`, or undefined. */
export async function firstSeqAtTime(
  ctx: JetStreamContext,
  stream: BrowsedStream,
  ms: number,
): Promise<number | undefined> {
  const message = await patiently("a read", ctx.patienceMs, async () => {
    try {
      const iterator = await ctx.jsm.direct.getBatch(ctx.subjects.dataStream, {
        start_time: new Date(ms),
        next_by_subj: ctx.subjects.data(stream.name),
        batch: 1,
      });
      for await (const found of iterator) return found;
      return null;
    } catch (err) {
      if (isNoResults(err)) return null;
      throw err;
    }
  });
  if (message === null) return undefined;
  return Math.max(message.seq, stream.dataAfter + 1);
}

function recordsOf(message: StoredMsg, stream: BrowsedStream): BrowsedRecord[] {
  const position = message.seq * RECORDS_PER_MESSAGE_MAX;
  const timestamp = message.time.getTime();
  return decodeFrames(message.data, stream.name).map((record, i) => ({
    seq: position + i - stream.base,
    payload: record.payload,
    attributes: record.attributes,
    timestamp,
  }));
}

async function lastUpTo(
  ctx: JetStreamContext,
  subject: string,
  upToSeq: number,
): Promise<StoredMsg | null> {
  return patiently("a read", ctx.patienceMs, async () => {
    try {
      const iterator = await ctx.jsm.direct.getLastMessagesFor(ctx.subjects.dataStream, {
        multi_last: [subject],
        up_to_seq: upToSeq,
        batch: 1,
      });
      for await (const message of iterator) return message;
      return null;
    } catch (err) {
      if (isNoResults(err)) return null;
      throw err;
    }
  });
}

/** A batch direct get that matched nothing ends with a 404 status, not an empty batch. */
export function isNoResults(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return (
    code === 404 || code === 10037 || /no results|no message found|not found/i.test(err.message)
  );
}
