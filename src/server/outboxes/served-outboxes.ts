/**
 * Outboxes and mirrors that `tidemark serve` runs (from the `outboxes` and `mirrors` keys of
 * its config): opened and started with the server, stopped with it, their state on
 * `GET /v1/outbox` and `/metrics`. Code embedding the server enqueues through
 * `running.outboxes.get(name)`.
 */
import { InvalidArgumentError } from "../../errors.js";
import type { Logger } from "../../logger.js";
import {
  DurableStreamsUpstream,
  HttpUpstream,
  JetStreamUpstream,
  Mirror,
  type MirrorStats,
  Outbox,
  type OutboxStats,
  type Upstream,
} from "../../outbox/index.js";
import type { Journal } from "../../storage/index.js";

/** Where a `kind: "jetstream"` outbox or mirror publishes (JetStreamUpstream's options). */
export interface ServedNatsConfig {
  servers?: string | string[];
  /** The JetStream stream (it must exist and capture the subjects). */
  natsStream?: string;
  /** Targets map to subjects under it: `/orders/1` → `<prefix>.orders.1`. */
  subjectPrefix?: string;
  user?: string;
  pass?: string;
}

export interface ServedOutboxConfig extends ServedNatsConfig {
  /**
   * `http` (default: requests to baseUrl + target), `durable-streams` (appends) or `jetstream`
   * (messages to `servers`, `natsStream`).
   */
  kind?: "http" | "durable-streams" | "jetstream";
  baseUrl?: string;
  token?: string;
  timeoutMs?: number;
  concurrency?: number;
  attemptsMax?: number;
  ageMsMax?: number;
  conflictStatuses?: number[];
}

export interface ServedMirrorConfig extends ServedNatsConfig {
  /** `durable-streams` (default) or `jetstream`. */
  kind?: "durable-streams" | "jetstream";
  /** The local stream's path (as under /v1/stream/). */
  stream: string;
  /** The remote server, e.g. `https://other:4437`. */
  baseUrl?: string;
  /** The remote stream's path, e.g. `/v1/stream/replica/x` (JetStream: the subject's path). */
  target: string;
  token?: string;
}

export class ServedOutboxes {
  readonly outboxes = new Map<string, Outbox>();
  readonly mirrors: Mirror[] = [];

  static async open(
    journal: Journal,
    outboxes: Record<string, ServedOutboxConfig> | undefined,
    mirrors: ServedMirrorConfig[] | undefined,
    logger: Logger,
    /** Creates a mirrored stream that does not exist yet (as a bytes stream). */
    ensureStream: (path: string) => Promise<void>,
  ): Promise<ServedOutboxes> {
    const served = new ServedOutboxes();
    for (const [name, config] of Object.entries(outboxes ?? {})) {
      if (typeof config !== "object" || config === null) {
        throw new InvalidArgumentError(`outboxes.${name} must be an object`);
      }
      const upstream = outboxUpstream(name, config, logger);
      const outbox = await Outbox.open(journal, name, {
        upstream,
        logger,
        ...(config.concurrency === undefined ? {} : { concurrency: config.concurrency }),
        ...(config.attemptsMax === undefined ? {} : { attemptsMax: config.attemptsMax }),
        ...(config.ageMsMax === undefined ? {} : { ageMsMax: config.ageMsMax }),
      });
      served.outboxes.set(name, outbox);
    }
    for (const [i, config] of (mirrors ?? []).entries()) {
      if (
        typeof config !== "object" ||
        config === null ||
        typeof config.stream !== "string" ||
        typeof config.target !== "string" ||
        (config.kind !== "jetstream" && typeof config.baseUrl !== "string")
      ) {
        throw new InvalidArgumentError(`mirrors[${i}] needs stream, baseUrl and target`);
      }
      await ensureStream(config.stream);
      const source = await journal.stream(config.stream);
      const contentType = (source.meta["ds"] as { contentType?: string } | undefined)?.contentType;
      const mirror = await Mirror.open(journal, {
        stream: config.stream,
        upstream:
          config.kind === "jetstream"
            ? jetStreamUpstream(config, logger)
            : new DurableStreamsUpstream({
                baseUrl: config.baseUrl!,
                ...(config.token === undefined ? {} : { token: config.token }),
                createContentType: contentType ?? "application/octet-stream",
              }),
        target: config.target,
        ...(contentType === undefined ? {} : { contentType }),
        logger,
      });
      served.mirrors.push(mirror);
    }
    return served;
  }

  start(): void {
    for (const outbox of this.outboxes.values()) outbox.start();
    for (const mirror of this.mirrors) {
      if (mirror.stats().halted === null) mirror.start();
    }
  }

  /** Stops the mirrors and closes the outboxes (their state is stored), before the journal. */
  async close(): Promise<void> {
    for (const mirror of this.mirrors) await mirror.close().catch(() => undefined);
    for (const outbox of this.outboxes.values()) await outbox.close().catch(() => undefined);
  }

  status(): { outboxes: OutboxStats[]; mirrors: MirrorStats[] } {
    return {
      outboxes: [...this.outboxes.values()].map((outbox) => outbox.stats()),
      mirrors: this.mirrors.map((mirror) => mirror.stats()),
    };
  }
}

function jetStreamUpstream(
  config: ServedNatsConfig & { token?: string; timeoutMs?: number },
  logger: Logger,
): JetStreamUpstream {
  return new JetStreamUpstream({
    servers: config.servers ?? [],
    stream: config.natsStream ?? "",
    logger,
    ...(config.subjectPrefix === undefined ? {} : { subjectPrefix: config.subjectPrefix }),
    ...(config.token === undefined ? {} : { token: config.token }),
    ...(config.user === undefined ? {} : { user: config.user }),
    ...(config.pass === undefined ? {} : { pass: config.pass }),
    ...(config.timeoutMs === undefined ? {} : { timeoutMs: config.timeoutMs }),
  });
}

function outboxUpstream(name: string, config: ServedOutboxConfig, logger: Logger): Upstream {
  if (config.kind === "jetstream") return jetStreamUpstream(config, logger);
  if (typeof config.baseUrl !== "string") {
    throw new InvalidArgumentError(`outboxes.${name} needs a baseUrl`);
  }
  const common = {
    baseUrl: config.baseUrl,
    ...(config.token === undefined ? {} : { token: config.token }),
    ...(config.timeoutMs === undefined ? {} : { timeoutMs: config.timeoutMs }),
  };
  if (config.kind === "durable-streams") return new DurableStreamsUpstream(common);
  return new HttpUpstream({
    ...common,
    ...(config.conflictStatuses === undefined ? {} : { conflictStatuses: config.conflictStatuses }),
  });
}
