/**
 * What the JetStream store shares between its streams (the connection, the subjects, its bounds)
 * and how it reads: the last message of a subject from the stream's leader (never a lagging
 * replica), and a stream's data messages by direct gets in batches, filtered by its subject.
 */
import type { JetStreamClient, JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { TidemarkError } from "../errors.js";
import { apiCode, patiently } from "./nats-calls.js";
import type { TickBatch } from "./next-tick-batch.js";
import type { Subjects } from "./subjects.js";

/** Messages per direct-get batch when reading. */
const READ_BATCH_MESSAGES = 256;
const READ_BATCH_BYTES = 8 * 1024 * 1024;
/** A replica behind the leader is waited for this long while reading up to a known sequence. */
const LAGGING_REPLICA_WAIT_MS = 5000;
/** Records per JetStream message at most, and the spacing of positions between messages. */
export const RECORDS_PER_MESSAGE_MAX = 65_536;

export interface JetStreamContext {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  subjects: Subjects;
  /** Largest message body the server takes, less room for headers. */
  messageBytesMax: number;
  /** How long a request may keep failing transiently before STORE_UNAVAILABLE. */
  patienceMs: number;
  /** This process, on its messages: its own appends do not wake its own watchers. */
  origin: string;
  watches: { count: number; max: number };
  /** Publishes wait for the end of the loop's turn, to go out together (next-tick-batch.ts). */
  soon: TickBatch;
}

/** The stored metadata message of a stream, as `open` reads it. */
export interface MetaState {
  meta: Record<string, unknown>;
  /** Sequence of the metadata message (compare-and-set of metadata updates). */
  metaSeq: number;
  /** Data messages at or below this sequence belong to an earlier incarnation of the path. */
  dataAfter: number;
  createdAt: number;
}

/**
 * The data messages of `path` after position `from` up to sequence `until`, by direct gets in
 * batches. A replica that has not caught up with `until` yet (R3) is waited for, bounded.
 */
export async function* dataMessages(
  ctx: JetStreamContext,
  path: string,
  dataAfter: number,
  from: number,
  until: number,
): AsyncGenerator<StoredMsg> {
  let next = Math.max(dataAfter + 1, Math.floor(from / RECORDS_PER_MESSAGE_MAX), 1);
  let lagSince: number | undefined;
  while (next <= until) {
    const start = next;
    const batch = await patiently("a read", ctx.patienceMs, async () => {
      const found: StoredMsg[] = [];
      try {
        const iterator = await ctx.jsm.direct.getBatch(ctx.subjects.dataStream, {
          seq: start,
          next_by_subj: ctx.subjects.data(path),
          batch: READ_BATCH_MESSAGES,
          max_bytes: READ_BATCH_BYTES,
        });
        for await (const message of iterator) found.push(message);
      } catch (err) {
        if (found.length === 0 && !isNoMessages(err)) throw err;
      }
      return found;
    });
    let progressed = false;
    for (const message of batch) {
      if (message.seq > until) return;
      if (message.seq < next) continue;
      next = message.seq + 1;
      progressed = true;
      yield message;
    }
    if (progressed) {
      lagSince = undefined;
      continue;
    }
    lagSince ??= Date.now();
    if (Date.now() - lagSince > LAGGING_REPLICA_WAIT_MS) {
      throw new TidemarkError(
        "STORE_UNAVAILABLE",
        `the JetStream replica read for ${path} stays behind sequence ${until}; try again`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The last message of `subject`, read from the stream's leader (not a lagging replica). */
export async function lastOf(
  ctx: JetStreamContext,
  stream: string,
  subject: string,
): Promise<StoredMsg | null> {
  return patiently("a lookup", ctx.patienceMs, async () => {
    try {
      return await ctx.jsm.streams.getMessage(stream, { last_by_subj: subject });
    } catch (err) {
      if (isNoMessages(err)) return null;
      throw err;
    }
  });
}

export function parseMeta(data: Uint8Array, seq: number): MetaState | undefined {
  try {
    const json = JSON.parse(Buffer.from(data).toString("utf8")) as Record<string, unknown>;
    const { __tm: envelope, ...meta } = json as {
      __tm?: { dataAfter?: unknown; createdAt?: unknown };
    };
    if (typeof envelope?.dataAfter !== "number" || typeof envelope.createdAt !== "number") {
      return undefined;
    }
    return { meta, metaSeq: seq, dataAfter: envelope.dataAfter, createdAt: envelope.createdAt };
  } catch {
    return undefined;
  }
}

export function isNoMessages(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = apiCode(err);
  return code === 10037 || /no message found|message not found|404/i.test(err.message);
}
