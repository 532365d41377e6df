/**
 * `tidemark serve` as a function: the Durable Streams protocol over a local journal. Binds to
 * loopback unless authorization is configured; bounds headers, requests, bodies, reads and live
 * connections; on `stop()` it stops accepting, answers or ends every live reader, lets in-flight
 * appends finish, saves coordination state, syncs and closes the journal (releasing its lock).
 */

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { InvalidArgumentError } from "../errors.js";
import {
  type JetStreamConfig,
  JetStreamStore,
  resolveJetStreamOptions,
} from "../jetstream/index.js";
import type { Logger } from "../logger.js";
import { type Mirror, OUTBOX_PREFIX, type Outbox } from "../outbox/index.js";
import type { Durability, JournalLimits, StreamLimits } from "../storage/index.js";
import { Journal } from "../storage/index.js";
import type { ServerContext, ServerLimits } from "./context.js";
import { DashboardAssets, DEFAULT_DASHBOARD_DIR } from "./dashboard/dashboard-assets.js";
import { type AuthConfig, Authorizer } from "./http/auth.js";
import { BodyBudget } from "./http/body-budget.js";
import { BodyReader } from "./http/body-reader.js";
import { answerClientError, refuseConnect } from "./http/client-errors.js";
import { createHandler } from "./http/handler.js";
import { listen } from "./listen.js";
import { ReadAhead } from "./live/read-ahead.js";
import { Metrics } from "./metrics.js";
import {
  type ServedMirrorConfig,
  type ServedOutboxConfig,
  ServedOutboxes,
} from "./outboxes/served-outboxes.js";
import { checkServerOptions } from "./server-options.js";
import { JournalStore } from "./store/journal-store.js";
import type { StreamStore } from "./store/stream-store.js";
import { isJsonType } from "./streams/content-type.js";
import { DsRegistry, newIncarnation, RESERVED_PREFIX } from "./streams/ds-registry.js";
import { RecentBudget } from "./streams/recent-messages.js";
import { LocalSubscriptionBook } from "./subscriptions/local-subscription-book.js";
import { sharedKeyKeeper } from "./subscriptions/shared-key-keeper.js";
import { SharedSubscriptionBook } from "./subscriptions/shared-subscription-book.js";
import { journalKeyKeeper, WebhookKeys } from "./subscriptions/signing.js";
import type { SubscriptionBook } from "./subscriptions/subscription-book.js";
import { SubscriptionLog } from "./subscriptions/subscription-log.js";
import { Subscriptions } from "./subscriptions/subscriptions.js";

export interface ServerOptions {
  /** The journal directory (created if missing). */
  dir: string;
  host?: string;
  port?: number;
  durability?: Durability;
  /** Segment size of the journal (see JournalOptions). */
  segmentBytesMax?: number;
  /** Journal-wide limits (total bytes, free disk, idle streams). */
  journalLimits?: JournalLimits;
  /** Limits every new stream gets. */
  streamLimits?: StreamLimits;
  auth?: AuthConfig;
  longPollTimeoutMs?: number;
  sseLifetimeMs?: number;
  bodyBytesMax?: number;
  /**
   * Request-body bytes held at once across all requests, JSON decoding included (past it,
   * requests wait up to `bodyBudgetWaitMs`, then get 503 with Retry-After).
   */
  bodyBytesInFlightMax?: number;
  bodyBudgetWaitMs?: number;
  /** A request body that sends nothing for this long is answered 408. */
  bodyIdleTimeoutMs?: number;
  readBytesMax?: number;
  /** Bound catch-up responses to this many message bytes (default: one response to the tail). */
  catchUpBytesMax?: number;
  liveConnectionsMax?: number;
  /** Time allowed for a request's headers, and for a whole request (slow clients). */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open between requests. */
  keepAliveTimeoutMs?: number;
  /** How long `stop()` lets in-flight requests finish before closing their connections. */
  shutdownGraceMs?: number;
  logger?: Logger;
  /** Outboxes the server runs, by name (served-outboxes.ts). */
  outboxes?: Record<string, ServedOutboxConfig>;
  /** Local streams the server mirrors to remote Durable Streams servers. */
  mirrors?: ServedMirrorConfig[];
  /** Permission bits of the journal's files and directories (see JournalOptions). */
  fileMode?: number;
  dirMode?: number;
  /** Where the built dashboard is (default: the package's dist/dashboard); false: no dashboard. */
  dashboardDir?: string | false;
  /**
   * Keep the Durable Streams in NATS JetStream (docs/jetstream.md), shared by every server
   * pointed at the same NATS; `dir` then holds only this server's own state (subscriptions,
   * outboxes, webhook keys).
   */
  nats?: JetStreamConfig;
  /**
   * The URL clients reach the server at, when it is not the address it listens on (a proxy or
   * load balancer in front, several processes behind one name): webhook callback and JWKS URLs
   * are made from it. Default: the listening address.
   */
  publicUrl?: string;
}

export interface RunningServer {
  url: string;
  journal: Journal;
  server: Server;
  /** The outboxes from `options.outboxes`, started: enqueue into them. */
  outboxes: Map<string, Outbox>;
  mirrors: Mirror[];
  stop(): Promise<void>;
}

export const SERVER_DEFAULTS = {
  host: "127.0.0.1",
  port: 4437,
  longPollTimeoutMs: 20_000,
  sseLifetimeMs: 60_000,
  bodyBytesMax: 16 * 1024 * 1024,
  bodyBytesInFlightMax: 64 * 1024 * 1024,
  bodyBudgetWaitMs: 5000,
  bodyIdleTimeoutMs: 10_000,
  readBytesMax: 4 * 1024 * 1024,
  liveConnectionsMax: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 120_000,
  keepAliveTimeoutMs: 5000,
  shutdownGraceMs: 10_000,
} as const;

const EXPIRY_SWEEP_INTERVAL_MS = 1000;
/** Catch-up chunks read ahead at once, across streams (each at most `readBytesMax`). */
const READ_AHEAD_CHUNKS_MAX = 8;
const READ_AHEAD_LIFETIME_MS = 5000;
/** Memory for the newest messages of streams with live readers, across streams. */
const RECENT_BYTES_MAX = 32 * 1024 * 1024;
const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);
/** JSON message bounds are 32-bit byte offsets (json-splitter.ts); bodies stay well below. */
const BODY_BYTES_MAX_LIMIT = 2 ** 31;

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  checkServerOptions(options);
  const host = options.host ?? SERVER_DEFAULTS.host;
  const auth = new Authorizer(options.auth);
  if (!LOOPBACK.has(host) && !auth.enabled) {
    throw new InvalidArgumentError(
      `refusing to serve on ${host} without authorization: configure auth tokens, or bind to 127.0.0.1`,
    );
  }
  const limits: ServerLimits = {
    longPollTimeoutMs: positive(
      "longPollTimeoutMs",
      options.longPollTimeoutMs ?? SERVER_DEFAULTS.longPollTimeoutMs,
    ),
    sseLifetimeMs: positive(
      "sseLifetimeMs",
      options.sseLifetimeMs ?? SERVER_DEFAULTS.sseLifetimeMs,
    ),
    bodyBytesMax: positive(
      "bodyBytesMax",
      options.bodyBytesMax ?? SERVER_DEFAULTS.bodyBytesMax,
      BODY_BYTES_MAX_LIMIT,
    ),
    readBytesMax: positive("readBytesMax", options.readBytesMax ?? SERVER_DEFAULTS.readBytesMax),
    catchUpBytesMax:
      options.catchUpBytesMax === undefined
        ? undefined
        : positive("catchUpBytesMax", options.catchUpBytesMax),
    liveConnectionsMax: positive(
      "liveConnectionsMax",
      options.liveConnectionsMax ?? SERVER_DEFAULTS.liveConnectionsMax,
    ),
  };
  const bodies = new BodyReader(
    new BodyBudget(
      positive(
        "bodyBytesInFlightMax",
        options.bodyBytesInFlightMax ?? SERVER_DEFAULTS.bodyBytesInFlightMax,
      ),
      positive("bodyBudgetWaitMs", options.bodyBudgetWaitMs ?? SERVER_DEFAULTS.bodyBudgetWaitMs),
    ),
    positive("bodyIdleTimeoutMs", options.bodyIdleTimeoutMs ?? SERVER_DEFAULTS.bodyIdleTimeoutMs),
  );
  const logger = options.logger ?? pino({ name: "tidemark" });
  const journal = await Journal.open(options.dir, {
    durability: options.durability ?? "always",
    ...(options.segmentBytesMax === undefined ? {} : { segmentBytesMax: options.segmentBytesMax }),
    // A message is the body plus its attributes (producer state: well under 4 KiB), and must fit
    // a segment; a body past what the journal takes is answered 413 (RECORD_TOO_LARGE).
    recordBytesMax: Math.min(
      limits.bodyBytesMax + 4096,
      (options.segmentBytesMax ?? 64 * 1024 * 1024) - 60,
    ),
    ...(options.journalLimits === undefined ? {} : { limits: options.journalLimits }),
    ...(options.fileMode === undefined ? {} : { fileMode: options.fileMode }),
    ...(options.dirMode === undefined ? {} : { dirMode: options.dirMode }),
    logger,
    onRecovery: (event) => logger.warn({ ...event }, `recovery: ${event.message}`),
  });
  let closeStore: () => Promise<void> = async () => undefined;
  try {
    const clock = Date.now;
    const store: StreamStore =
      options.nats === undefined
        ? new JournalStore(
            journal,
            (name) => name.startsWith(RESERVED_PREFIX) || name.startsWith(OUTBOX_PREFIX),
          )
        : await JetStreamStore.open(resolveJetStreamOptions(options.nats), logger);
    closeStore = () => store.close();
    const registry = new DsRegistry(journal, store, {
      clock,
      streamLimits: options.streamLimits,
    });
    await registry.load();
    const served = await ServedOutboxes.open(
      journal,
      options.outboxes,
      options.mirrors,
      logger,
      async (path) => {
        if (registry.peek(path) !== undefined) return;
        await registry.create(path, {
          contentType: "application/octet-stream",
          ttlSeconds: null,
          expiresAt: null,
          incarnation: newIncarnation(),
          softDeleted: false,
          fork: null,
        });
      },
    );
    let baseUrl = "";
    const book = await openSubscriptionBook(journal, store);
    const subscriptions = new Subscriptions({
      registry,
      keys: await WebhookKeys.open(
        store.records === undefined
          ? journalKeyKeeper(journal)
          : sharedKeyKeeper(store.records("k")),
        [...book.known()].some((state) => state.stored.config.webhookUrl !== null),
      ),
      book,
      logger,
      clock,
      baseUrl: () => baseUrl,
      appendWakeEvent: async (wakeStream, event) => {
        const ds = await registry.live(wakeStream, false);
        await ds.append(
          isJsonType(ds.meta.contentType) ? JSON.stringify(event) : `${JSON.stringify(event)}\n`,
          {},
        );
      },
    });
    const ctx: ServerContext = {
      registry,
      subscriptions,
      limits,
      clock,
      metrics: new Metrics(
        journal,
        () => registry.size,
        limits.liveConnectionsMax,
        () => served.status(),
      ),
      logger,
      shuttingDown: false,
      live: new Set(),
      readAhead: new ReadAhead(registry, READ_AHEAD_CHUNKS_MAX, READ_AHEAD_LIFETIME_MS),
      served,
      recentBudget: new RecentBudget(RECENT_BYTES_MAX),
      bodies,
      startedAt: clock(),
      dashboard: await DashboardAssets.load(options.dashboardDir ?? DEFAULT_DASHBOARD_DIR),
    };
    ctx.metrics.watchBodies(() => bodies.budget.bytesUsed);
    const server = createServer(
      {
        headersTimeout: options.headersTimeoutMs ?? SERVER_DEFAULTS.headersTimeoutMs,
        requestTimeout: options.requestTimeoutMs ?? SERVER_DEFAULTS.requestTimeoutMs,
        // How often Node checks those two timeouts (its default, 30 s, would make them that coarse).
        connectionsCheckingInterval: Math.min(
          1000,
          options.headersTimeoutMs ?? SERVER_DEFAULTS.headersTimeoutMs,
        ),
        keepAliveTimeout: positive(
          "keepAliveTimeoutMs",
          options.keepAliveTimeoutMs ?? SERVER_DEFAULTS.keepAliveTimeoutMs,
        ),
      },
      createHandler(ctx, auth),
    );
    const inFlight = new Set<Promise<void>>();
    server.on("request", (_req, res) => {
      const done = new Promise<void>((resolve) => res.once("close", resolve));
      inFlight.add(done);
      void done.then(() => inFlight.delete(done));
    });
    server.on("clientError", answerClientError);
    server.on("connect", refuseConnect);
    await listen(server, options.port ?? SERVER_DEFAULTS.port, host);
    const sweeper = setInterval(
      () => void registry.expireDue().catch(() => undefined),
      EXPIRY_SWEEP_INTERVAL_MS,
    );
    sweeper.unref();
    const address = server.address() as AddressInfo;
    const url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
    baseUrl = options.publicUrl?.replace(/\/+$/, "") ?? url;
    subscriptions.start();
    served.start();
    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        ctx.shuttingDown = true;
        ctx.readAhead.clear();
        bodies.stop();
        clearInterval(sweeper);
        subscriptions.stop();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        for (const wake of [...ctx.live]) wake(); // long-polls answer, SSE responses end
        const grace = options.shutdownGraceMs ?? SERVER_DEFAULTS.shutdownGraceMs;
        const deadline = new Promise<void>((resolve) => setTimeout(resolve, grace).unref());
        await Promise.race([Promise.all([...inFlight]), deadline]);
        server.closeAllConnections();
        await closed;
        await registry.snapshotAll();
        await served.close();
        await closeStore().catch(() => undefined);
        await journal.close();
        logger.info({ dir: options.dir }, "stopped; the journal is synced and its lock released");
      })();
      return stopping;
    };
    logger.info({ url, dir: options.dir, streams: registry.size }, "serving");
    return { url, journal, server, outboxes: served.outboxes, mirrors: served.mirrors, stop };
  } catch (err) {
    await closeStore().catch(() => undefined);
    await journal.close().catch(() => undefined);
    throw err;
  }
}

function positive(name: string, value: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new InvalidArgumentError(
      `${name} must be an integer from 1 to ${max}, got ${String(value)}`,
    );
  }
  return value;
}

/** Subscriptions in the journal (one server), or in the shared store (every server on it). */
async function openSubscriptionBook(
  journal: Journal,
  store: StreamStore,
): Promise<SubscriptionBook> {
  if (store.records !== undefined) return SharedSubscriptionBook.open(store.records("s"));
  const { log, subs } = await SubscriptionLog.open(journal);
  return new LocalSubscriptionBook(log, subs);
}
