/**
 * Durable Streams in NATS JetStream (docs/jetstream.md): connects, checks the server can keep the
 * promises (2.11 or later, JetStream on), makes the two JetStream streams if they are missing,
 * and creates, opens and deletes Durable Streams streams in them. Creation is compare-and-set on
 * the metadata subject (expected last subject sequence 0), so two processes creating one path
 * cannot both win; a fork also writes a link subject under its source, so any process can count
 * a stream's live forks.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import {
  connect,
  credsAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from "@nats-io/transport-node";
import { TidemarkError } from "../errors.js";
import type { Logger } from "../logger.js";
import { type JetStreamSummary, summariesOf } from "./jetstream-listing.js";
import type { JetStreamOptions } from "./jetstream-options.js";
import {
  isNoMessages,
  type JetStreamContext,
  lastOf,
  type MetaState,
  parseMeta,
} from "./jetstream-reads.js";
import { JetStreamStoredStream } from "./jetstream-stream.js";
import { apiCode, isTransient, patiently } from "./nats-calls.js";
import { tickBatch } from "./next-tick-batch.js";
import { JetStreamRecords } from "./shared-records.js";
import { subjectsFor } from "./subjects.js";

const WRONG_LAST_SEQUENCE = 10_071;
/** Room kept in a NATS message for headers (msg id, expectations, tidemark's own). */
const HEADER_ROOM_BYTES = 1024;
const DUPLICATE_WINDOW_NS = 120 * 1_000_000_000;
const WATCHES_MAX = 10_000;

export class JetStreamStore {
  readonly shared = true;
  readonly kind = "jetstream";

  private constructor(private readonly ctx: JetStreamContext) {}

  /** Connects and prepares the JetStream streams; a clear STORE_UNAVAILABLE if NATS is not there. */
  static async open(options: JetStreamOptions, logger: Logger): Promise<JetStreamStore> {
    const connectOptions: NodeConnectionOptions = {
      servers: options.servers,
      name: "tidemark",
      maxReconnectAttempts: -1,
      // The client would otherwise make an Error (a stack trace) for every request it sends, in case
      // it times out: a tenth of the server's CPU on the append path, measured. Ours wrap them anyway.
      noAsyncTraces: true,
      reconnectTimeWait: 250,
    };
    if (options.token !== undefined) connectOptions.token = options.token;
    if (options.user !== undefined) connectOptions.user = options.user;
    if (options.pass !== undefined) connectOptions.pass = options.pass;
    if (options.credentials !== undefined) {
      connectOptions.authenticator = credsAuthenticator(await readFile(options.credentials));
    }
    let nc: NatsConnection;
    try {
      nc = await connect(connectOptions);
    } catch (err) {
      throw new TidemarkError(
        "STORE_UNAVAILABLE",
        `cannot connect to NATS at ${options.servers.join(", ")}: ${(err as Error).message}`,
        {},
        err,
      );
    }
    try {
      return await JetStreamStore.prepare(nc, options, logger);
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
  }

  private static async prepare(
    nc: NatsConnection,
    options: JetStreamOptions,
    logger: Logger,
  ): Promise<JetStreamStore> {
    const info = nc.info;
    const version = info?.version ?? "0.0.0";
    const [major = 0, minor = 0] = version.split(".").map(Number);
    if (major < 2 || (major === 2 && minor < 11)) {
      throw new TidemarkError(
        "INVALID_ARGUMENT",
        `nats-server ${version} is too old: tidemark needs 2.11 or later (2.10 can acknowledge a retried publish it stored nowhere on a replicated stream; 2.9 cannot fsync before acknowledging)`,
      );
    }
    if (info?.jetstream !== true) {
      throw new TidemarkError(
        "INVALID_ARGUMENT",
        "JetStream is not enabled on this nats-server: start it with -js, or a jetstream {} block",
      );
    }
    const subjects = subjectsFor(options.prefix);
    // A cluster that has just formed elects its JetStream meta leader first: startup waits longer.
    const jsm = await patiently("the JetStream account", Math.max(options.patienceMs, 30_000), () =>
      jetstreamManager(nc, { timeout: 10_000 }),
    );
    const ctx: JetStreamContext = {
      nc,
      js: jetstream(nc, { timeout: 10_000 }),
      jsm,
      subjects,
      messageBytesMax: (info?.max_payload ?? 1024 * 1024) - HEADER_ROOM_BYTES,
      patienceMs: options.patienceMs,
      origin: randomBytes(8).toString("hex"),
      watches: { count: 0, max: WATCHES_MAX },
      soon: tickBatch(),
    };
    await ensureStream(ctx, subjects.dataStream, {
      subjects: [subjects.allData],
      num_replicas: options.replicas,
      allow_direct: true,
      duplicate_window: DUPLICATE_WINDOW_NS,
    });
    await ensureStream(ctx, subjects.metaStream, {
      subjects: subjects.allMeta,
      num_replicas: options.replicas,
      max_msgs_per_subject: 1,
      allow_direct: true,
    });
    if (options.replicas === 1) {
      logger.warn(
        { servers: options.servers },
        "JetStream with one replica: an acknowledged append is fsynced only if nats-server runs with `jetstream { sync_interval: always }` (tidemark cannot see that setting from a client; see docs/jetstream.md). For replication run a 3-node cluster with replicas: 3",
      );
    }
    return new JetStreamStore(ctx);
  }

  /** Streams are opened on demand; listing reads every metadata subject (admin use only). */
  async names(): Promise<string[]> {
    const info = await patiently("a stream listing", this.ctx.patienceMs, () =>
      this.ctx.jsm.streams.info(this.ctx.subjects.metaStream, {
        subjects_filter: this.ctx.subjects.allMeta[0]!,
      }),
    );
    const names: string[] = [];
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const name = this.ctx.subjects.pathOfMeta(subject);
      if (name !== undefined) names.push(name);
    }
    return names.sort();
  }

  /** The metadata of a listing's page of streams, without opening them (jetstream-listing.ts). */
  summaries(names: readonly string[]): Promise<JetStreamSummary[]> {
    return summariesOf(this.ctx, names);
  }

  async open(name: string): Promise<JetStreamStoredStream | undefined> {
    const message = await lastOf(
      this.ctx,
      this.ctx.subjects.metaStream,
      this.ctx.subjects.meta(name),
    );
    if (message === null) return undefined;
    const state = parseMeta(message.data, message.seq);
    if (state === undefined) {
      throw new TidemarkError("CORRUPT", `the JetStream metadata of ${name} is not tidemark's`);
    }
    const base = baseOf(state.meta);
    // Opened at its start: the server's first sync reads the records and their changes.
    const tail = { lastJsSeq: state.dataAfter, lastPosition: base };
    return new JetStreamStoredStream(this.ctx, name, state, tail, base);
  }

  async create(name: string, meta: Record<string, unknown>): Promise<JetStreamStoredStream> {
    // Data left by an earlier incarnation of the path (an interrupted delete) is skipped, not read.
    const leftover = await lastOf(
      this.ctx,
      this.ctx.subjects.dataStream,
      this.ctx.subjects.data(name),
    );
    const dataAfter = leftover?.seq ?? 0;
    const createdAt = Date.now();
    const body = Buffer.from(JSON.stringify({ ...meta, __tm: { dataAfter, createdAt } }));
    let metaSeq: number;
    try {
      const ack = await patiently("a create", this.ctx.patienceMs, () =>
        this.ctx.js.publish(this.ctx.subjects.meta(name), body, {
          expect: { lastSubjectSequence: 0 },
        }),
      );
      metaSeq = ack.seq;
    } catch (err) {
      if (apiCode(err) !== WRONG_LAST_SEQUENCE) throw err;
      throw new TidemarkError(
        "STREAM_EXISTS",
        `${name} was created by another process at the same time`,
      );
    }
    const fork = forkOf(meta);
    if (fork !== undefined) {
      await patiently("a fork link", this.ctx.patienceMs, () =>
        this.ctx.js.publish(this.ctx.subjects.fork(fork.source, name), new Uint8Array(0)),
      );
    }
    const state: MetaState = { meta, metaSeq, dataAfter, createdAt };
    const base = baseOf(meta);
    return new JetStreamStoredStream(
      this.ctx,
      name,
      state,
      { lastJsSeq: dataAfter, lastPosition: base },
      base,
    );
  }

  /** Metadata first (every process then sees the stream gone), then the records and the fork link. */
  async delete(name: string): Promise<void> {
    const message = await lastOf(
      this.ctx,
      this.ctx.subjects.metaStream,
      this.ctx.subjects.meta(name),
    );
    const state = message === null ? undefined : parseMeta(message.data, message.seq);
    await this.purge(this.ctx.subjects.metaStream, this.ctx.subjects.meta(name));
    await this.purge(this.ctx.subjects.dataStream, this.ctx.subjects.data(name));
    await this.purge(this.ctx.subjects.metaStream, this.ctx.subjects.access(name));
    const fork = state === undefined ? undefined : forkOf(state.meta);
    if (fork !== undefined) {
      await this.purge(this.ctx.subjects.metaStream, this.ctx.subjects.fork(fork.source, name));
    }
  }

  /** The shared records of one kind (a subject token: letters), e.g. the server's subscriptions. */
  records(kind: string): JetStreamRecords {
    return new JetStreamRecords(this.ctx, kind);
  }

  async forks(name: string): Promise<number> {
    const info = await patiently("a fork count", this.ctx.patienceMs, () =>
      this.ctx.jsm.streams.info(this.ctx.subjects.metaStream, {
        subjects_filter: this.ctx.subjects.forksOf(name),
      }),
    );
    return Object.keys(info.state.subjects ?? {}).length;
  }

  async close(): Promise<void> {
    await this.ctx.nc.drain().catch(() => this.ctx.nc.close());
  }

  private async purge(stream: string, subject: string): Promise<void> {
    await patiently("a delete", this.ctx.patienceMs, async () => {
      try {
        await this.ctx.jsm.streams.purge(stream, { filter: subject });
      } catch (err) {
        if (!isNoMessages(err)) throw err;
      }
    });
  }
}

async function ensureStream(
  ctx: JetStreamContext,
  name: string,
  config: {
    subjects: string[];
    num_replicas: number;
    allow_direct: boolean;
    duplicate_window?: number;
    max_msgs_per_subject?: number;
  },
): Promise<void> {
  await patiently(`the JetStream stream ${name}`, Math.max(ctx.patienceMs, 30_000), async () => {
    try {
      const info = await ctx.jsm.streams.info(name);
      if (info.config.num_replicas !== config.num_replicas) {
        throw new TidemarkError(
          "INVALID_ARGUMENT",
          `the JetStream stream ${name} has ${info.config.num_replicas} replicas, the configuration asks for ${config.num_replicas}: use the same replicas everywhere, or another prefix`,
        );
      }
      // A deployment made by an earlier tidemark lacks newer subjects (shared records): added.
      const missing = config.subjects.filter((subject) => !info.config.subjects.includes(subject));
      if (missing.length > 0) {
        await ctx.jsm.streams.update(name, {
          subjects: [...info.config.subjects, ...missing],
        });
      }
      return;
    } catch (err) {
      if (err instanceof TidemarkError) throw err;
      if (apiCode(err) !== 10059 && !/stream not found/i.test((err as Error).message)) throw err;
    }
    try {
      await ctx.jsm.streams.add({
        name,
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        ...config,
      });
    } catch (err) {
      if (isTransient(err)) throw err;
      throw new TidemarkError(
        "INVALID_ARGUMENT",
        `NATS refused to create the JetStream stream ${name} with ${config.num_replicas} replica(s): ${(err as Error).message}`,
        {},
        err,
      );
    }
  });
}

function baseOf(meta: Record<string, unknown>): number {
  return forkOf(meta)?.offset ?? 0;
}

function forkOf(meta: Record<string, unknown>): { source: string; offset: number } | undefined {
  const fork = (meta as { ds?: { fork?: { source?: unknown; offset?: unknown } | null } }).ds?.fork;
  if (fork === undefined || fork === null) return undefined;
  if (typeof fork.source !== "string" || typeof fork.offset !== "number") return undefined;
  return { source: fork.source, offset: fork.offset };
}
