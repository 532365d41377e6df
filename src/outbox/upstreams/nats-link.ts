/**
 * The JetStream upstream's connection: made on first use (an edge may start offline), then
 * kept by the client, which reconnects forever. Whenever it (re)connects, the stream's config
 * is read again and checked before anything is published: the stream must exist and keep
 * message ids (duplicate_window) long enough for exactly-once delivery. Until both hold,
 * `ready()` answers why not, and the caller retries later; nothing is published meanwhile.
 */
import {
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { InvalidArgumentError } from "../../errors.js";
import type { Logger } from "../../logger.js";
import { BACKOFF_DEFAULTS } from "../delivery/backoff.js";
import { positive } from "./http-request.js";

export interface NatsLinkOptions {
  /** NATS server URLs (`nats://host:4222`), one or a list. */
  servers: string | string[];
  /** The JetStream stream that stores the messages (it must exist and capture the subjects). */
  stream: string;
  token?: string;
  user?: string;
  pass?: string;
  /** How long a publish waits for its acknowledgement (default 5 s). */
  timeoutMs?: number;
}

export interface Ready {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

const STREAM_NAME = /^[^\s.*>/\\]{1,255}$/;
/** How often a failed stream check is repeated while deliveries keep asking. */
const RECHECK_MS = 2_000;

export class NatsLink {
  readonly stream: string;
  readonly timeoutMs: number;
  readonly description: string;
  /** The stream's duplicate_window in ms (0 until it has been read). */
  windowMs = 0;
  private readonly servers: string[];
  private readonly auth: Record<string, string>;
  /** Set by the outbox or mirror using the link; else windowMsMin with the default backoff. */
  private requiredWindowMs: number | undefined;
  private connection: Ready | undefined;
  private connecting: Promise<Ready | string> | undefined;
  private connected = false;
  /** Null once the stream passed its check on this connection. */
  private problem: string | null = "not checked yet";
  private checking: Promise<void> | undefined;
  private checkedAt = 0;
  private lastWarning = "";
  private streamBytesMax = 0;
  private closed = false;

  constructor(
    options: NatsLinkOptions,
    private readonly logger: Logger | undefined,
  ) {
    const servers = typeof options.servers === "string" ? [options.servers] : options.servers;
    if (!Array.isArray(servers) || servers.length === 0 || servers.some((s) => !isNatsUrl(s))) {
      throw new InvalidArgumentError(
        `servers must be one or more nats:// URLs, got ${JSON.stringify(options.servers)}`,
      );
    }
    if (typeof options.stream !== "string" || !STREAM_NAME.test(options.stream)) {
      throw new InvalidArgumentError(
        `stream must be a JetStream stream name (no spaces, '.', '*', '>', slashes), got ${JSON.stringify(options.stream)}`,
      );
    }
    for (const key of ["token", "user", "pass"] as const) {
      const value = options[key];
      if (value !== undefined && (typeof value !== "string" || value === "")) {
        throw new InvalidArgumentError(`${key} must be a non-empty string`);
      }
    }
    this.servers = servers;
    this.stream = options.stream;
    this.timeoutMs = positive(options.timeoutMs, 5_000, "timeoutMs");
    this.auth = {
      ...(options.token === undefined ? {} : { token: options.token }),
      ...(options.user === undefined ? {} : { user: options.user }),
      ...(options.pass === undefined ? {} : { pass: options.pass }),
    };
    this.description = `${servers.join(",")} stream ${options.stream}`;
  }

  /** The duplicate_window the stream must have (set by the outbox or mirror using the link). */
  requireWindowMs(ms: number): void {
    this.requiredWindowMs = Math.max(this.requiredWindowMs ?? 0, ms);
    if (this.problem === null) this.recheck();
  }

  private recheck(): void {
    this.problem = "not checked yet";
    this.checkedAt = 0;
  }

  /** The largest message the server and the stream take, headers included. */
  bodyBytesMax(): number {
    const payload = this.connection?.nc.info?.max_payload ?? 1024 * 1024;
    return this.streamBytesMax > 0 ? Math.min(payload, this.streamBytesMax) : payload;
  }

  /** The connection, checked; or why there is none usable now. */
  async ready(signal: AbortSignal): Promise<Ready | string> {
    if (this.closed) return "the upstream is closed";
    if (this.connection === undefined) {
      this.connecting ??= this.connect().finally(() => {
        this.connecting = undefined;
      });
      const made = await this.connecting;
      if (typeof made === "string") return made;
    }
    if (!this.connected) return `not connected to NATS (${this.servers.join(", ")}): reconnecting`;
    if (this.problem !== null) {
      if (this.checking === undefined && Date.now() >= this.checkedAt) {
        this.checking = this.check().finally(() => {
          this.checking = undefined;
        });
      }
      await this.checking;
      if (signal.aborted) return "aborted before sending";
      if (this.problem !== null) return this.problem;
    }
    return this.connection ?? "not connected to NATS";
  }

  private async connect(): Promise<Ready | string> {
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: this.servers,
        maxReconnectAttempts: -1,
        // The client would otherwise make an Error (a stack trace) for every request it sends, in case
        // it times out: a tenth of the server's CPU on the append path, measured. Ours wrap them anyway.
        noAsyncTraces: true,
        reconnectTimeWait: 250,
        timeout: this.timeoutMs,
        name: "tidemark",
        ...this.auth,
      });
    } catch (err) {
      return `NATS is not reachable at ${this.servers.join(", ")}: ${(err as Error).message ?? err}`;
    }
    if (this.closed) {
      await nc.close().catch(() => undefined);
      return "the upstream is closed";
    }
    const ready: Ready = {
      nc,
      js: jetstream(nc, { timeout: this.timeoutMs }),
      jsm: await jetstreamManager(nc, { timeout: this.timeoutMs, checkAPI: false }),
    };
    this.connection = ready;
    this.connected = true;
    this.recheck();
    this.watch(nc).catch((err: unknown) => {
      this.connected = false;
      this.logger?.warn({ upstream: this.description, err: String(err) }, "NATS status failed");
    });
    return ready;
  }

  /** Follows the connection: a reconnect (maybe to another server) checks the stream again. */
  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        this.connected = false;
        this.logger?.warn({ upstream: this.description }, "NATS connection lost: reconnecting");
      } else if (status.type === "reconnect") {
        this.connected = true;
        this.recheck();
        this.logger?.info({ upstream: this.description }, "NATS connection back");
      }
    }
    // The status stream ends when the connection is closed for good.
    this.connected = false;
    if (this.connection?.nc === nc) this.connection = undefined;
  }

  private async check(): Promise<void> {
    const ready = this.connection;
    if (ready === undefined) return;
    this.checkedAt = Date.now() + RECHECK_MS;
    let problem: string | null = null;
    try {
      const info = await ready.jsm.streams.info(this.stream);
      this.windowMs = Math.floor(info.config.duplicate_window / 1e6);
      this.streamBytesMax = Math.max(info.config.max_msg_size, 0);
      const required = this.requiredWindowMs ?? windowMsMin(this.timeoutMs);
      if (this.windowMs < required) {
        problem = `the JetStream stream ${this.stream} keeps message ids for ${this.windowMs / 1000} s (duplicate_window), but exactly-once delivery here needs at least ${Math.ceil(required / 1000)} s (three ack timeouts and the longest backoff): raise it (e.g. 'nats stream edit ${this.stream} --dupe-window ${Math.ceil(required / 60_000)}m'); nothing is published until then`;
      }
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      problem = /not found/i.test(message)
        ? `the JetStream stream ${this.stream} does not exist: create it, capturing the subjects this upstream publishes to`
        : `reading the JetStream stream ${this.stream} failed: ${message}`;
    }
    this.problem = problem;
    if (problem !== null && problem !== this.lastWarning) {
      this.logger?.warn(
        { upstream: this.description, problem },
        "JetStream upstream refuses to deliver",
      );
    }
    this.lastWarning = problem ?? "";
  }

  async close(): Promise<void> {
    this.closed = true;
    const connection = this.connection;
    this.connection = undefined;
    this.connected = false;
    await connection?.nc.close().catch(() => undefined);
  }
}

/**
 * The shortest duplicate_window that keeps normal retries deduplicated: an attempt that got no
 * answer (up to `timeoutMs`), the backoff before the next (up to `backoffMaxMs`), that
 * attempt's own timeout, and one timeout more of margin. With the defaults (5 s, 60 s): 75 s,
 * inside JetStream's default window of 2 minutes.
 */
export function windowMsMin(timeoutMs: number, backoffMaxMs = BACKOFF_DEFAULTS.maxMs): number {
  return 3 * timeoutMs + backoffMaxMs;
}

function isNatsUrl(url: unknown): boolean {
  if (typeof url !== "string") return false;
  try {
    const parsed = new URL(url);
    return ["nats:", "tls:"].includes(parsed.protocol) && parsed.hostname !== "";
  } catch {
    return false;
  }
}
