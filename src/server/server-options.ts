/**
 * The server's options checked to the leaves before anything is opened: an unknown key or a bad
 * value anywhere (limits, outboxes, mirrors, tokens) stops `startServer` at once with the key's
 * path. Without this a typo in `streamLimits` would start fine and then answer every PUT 400,
 * blaming the client for the server's configuration, and a typo in an outbox would be ignored.
 */
import { InvalidArgumentError } from "../errors.js";
import { type JetStreamConfig, resolveJetStreamOptions } from "../jetstream/index.js";
import { checkKnownKeys, optionsObject } from "../options-check.js";
import { resolveJournalLimits, resolveLimits } from "../storage/index.js";

/** The options that are counts, sizes or times: positive integers. */
const POSITIVE_KEYS = [
  "longPollTimeoutMs",
  "sseLifetimeMs",
  "bodyBytesMax",
  "bodyBytesInFlightMax",
  "bodyBudgetWaitMs",
  "bodyIdleTimeoutMs",
  "keepAliveTimeoutMs",
  "readBytesMax",
  "catchUpBytesMax",
  "liveConnectionsMax",
  "headersTimeoutMs",
  "requestTimeoutMs",
  "shutdownGraceMs",
] as const;

/** Every key of `ServerOptions` (server.ts); a test checks the two lists agree. */
export const SERVER_OPTION_KEYS = [
  "dir",
  "host",
  "port",
  "durability",
  "segmentBytesMax",
  "journalLimits",
  "streamLimits",
  "auth",
  ...POSITIVE_KEYS,
  "logger",
  "outboxes",
  "mirrors",
  "fileMode",
  "dirMode",
  "dashboardDir",
  "nats",
  "publicUrl",
] as const;

/** The keys of a `kind: "jetstream"` outbox or mirror (JetStreamUpstream's options). */
const NATS_KEYS = ["servers", "natsStream", "subjectPrefix", "user", "pass"] as const;
const OUTBOX_KEYS = [
  "kind",
  "baseUrl",
  "token",
  "timeoutMs",
  "concurrency",
  "attemptsMax",
  "ageMsMax",
  "conflictStatuses",
  ...NATS_KEYS,
] as const;
const MIRROR_KEYS = ["kind", "stream", "baseUrl", "target", "token", ...NATS_KEYS] as const;
const PORT_MAX = 65_535;

/** Throws an INVALID_ARGUMENT naming the first option that is unknown or malformed. */
export function checkServerOptions(options: object): void {
  const all = checkKnownKeys(options, SERVER_OPTION_KEYS, "");
  if (typeof all["dir"] !== "string" || all["dir"].length === 0) {
    fail("dir", "must be a directory path");
  }
  if (all["host"] !== undefined && (typeof all["host"] !== "string" || all["host"] === "")) {
    fail("host", "must be a host name or address");
  }
  if (all["port"] !== undefined) integer("port", all["port"], 0, PORT_MAX);
  if (all["publicUrl"] !== undefined) checkPublicUrl(all["publicUrl"]);
  for (const key of ["segmentBytesMax", "fileMode", "dirMode"] as const) {
    if (all[key] !== undefined) integer(key, all[key], 0, Number.MAX_SAFE_INTEGER);
  }
  for (const key of POSITIVE_KEYS) {
    if (all[key] !== undefined) integer(key, all[key], 1, Number.MAX_SAFE_INTEGER);
  }
  const dashboardDir = all["dashboardDir"];
  if (
    dashboardDir !== undefined &&
    dashboardDir !== false &&
    (typeof dashboardDir !== "string" || dashboardDir === "")
  ) {
    fail("dashboardDir", "must be a directory path, or false for no dashboard");
  }
  if (all["nats"] !== undefined) resolveJetStreamOptions(all["nats"] as JetStreamConfig);
  resolveLimits(all["streamLimits"], {}, "streamLimits");
  if (all["journalLimits"] !== undefined)
    resolveJournalLimits(all["journalLimits"], "journalLimits");
  for (const [name, config] of Object.entries(optionsObject(all["outboxes"], "outboxes"))) {
    checkOutbox(`outboxes.${name}`, config);
  }
  const mirrors = all["mirrors"];
  if (mirrors !== undefined && !Array.isArray(mirrors)) {
    fail("mirrors", "must be a list of { stream, baseUrl, target, token? }");
  }
  for (const [i, config] of (mirrors ?? []).entries()) {
    const path = `mirrors[${i}]`;
    const mirror = checkKnownKeys(config, MIRROR_KEYS, path);
    const kind = mirror["kind"];
    if (kind !== undefined && kind !== "durable-streams" && kind !== "jetstream") {
      fail(`${path}.kind`, `must be 'durable-streams' or 'jetstream', got ${JSON.stringify(kind)}`);
    }
    // A JetStream mirror's local stream is `stream`; the JetStream stream is `natsStream`.
    const required =
      kind === "jetstream"
        ? (["stream", "target", "natsStream"] as const)
        : (["stream", "baseUrl", "target"] as const);
    for (const key of required) {
      if (typeof mirror[key] !== "string" || mirror[key] === "")
        fail(`${path}.${key}`, "is required");
    }
    if (mirror["token"] !== undefined) text(`${path}.token`, mirror["token"]);
    if (kind === "jetstream") checkNats(path, mirror);
  }
}

function checkOutbox(path: string, config: unknown): void {
  const outbox = checkKnownKeys(config, OUTBOX_KEYS, path);
  const kind = outbox["kind"];
  if (kind !== undefined && kind !== "http" && kind !== "durable-streams" && kind !== "jetstream") {
    fail(
      `${path}.kind`,
      `must be 'http', 'durable-streams' or 'jetstream', got ${JSON.stringify(kind)}`,
    );
  }
  if (kind === "jetstream") {
    if (typeof outbox["natsStream"] !== "string" || outbox["natsStream"] === "") {
      fail(`${path}.natsStream`, "is required (the JetStream stream to publish to)");
    }
    checkNats(path, outbox);
  } else if (typeof outbox["baseUrl"] !== "string" || outbox["baseUrl"] === "") {
    fail(`${path}.baseUrl`, "is required (the upstream's http(s) URL)");
  }
  if (outbox["token"] !== undefined) text(`${path}.token`, outbox["token"]);
  for (const key of ["timeoutMs", "concurrency", "attemptsMax", "ageMsMax"] as const) {
    if (outbox[key] !== undefined)
      integer(`${path}.${key}`, outbox[key], 1, Number.MAX_SAFE_INTEGER);
  }
  const statuses = outbox["conflictStatuses"];
  if (statuses !== undefined) {
    if (!Array.isArray(statuses) || statuses.length === 0) {
      fail(`${path}.conflictStatuses`, "must be a list of 4xx statuses");
    }
    for (const [i, status] of statuses.entries())
      integer(`${path}.conflictStatuses[${i}]`, status, 400, 499);
  }
}

/** The NATS keys of a `kind: "jetstream"` outbox or mirror. */
function checkNats(path: string, config: Record<string, unknown>): void {
  const servers = config["servers"];
  const list = typeof servers === "string" ? [servers] : servers;
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    list.some((s) => typeof s !== "string" || !/^(nats|tls):\/\/./.test(s))
  ) {
    fail(`${path}.servers`, "must be a nats:// URL or a list of them");
  }
  for (const key of ["subjectPrefix", "user", "pass"] as const) {
    if (config[key] !== undefined) text(`${path}.${key}`, config[key]);
  }
}

function integer(path: string, value: unknown, min: number, max: number): void {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
    fail(path, `must be an integer ${range}, got ${JSON.stringify(value)}`);
  }
}

function text(path: string, value: unknown): void {
  if (typeof value !== "string" || value === "") fail(path, "must be a non-empty string");
}

function fail(path: string, problem: string): never {
  throw new InvalidArgumentError(`${path} ${problem}`, { option: path });
}

/** An absolute http(s) URL without query or fragment: callback and JWKS URLs are made from it. */
function checkPublicUrl(value: unknown): void {
  let url: URL | undefined;
  try {
    url = typeof value === "string" ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (
    url === undefined ||
    (url.protocol !== "http:" && url.protocol !== "https:") ||
    url.search !== "" ||
    url.hash !== ""
  ) {
    fail(
      "publicUrl",
      "must be an http:// or https:// URL without a query, like https://streams.example.com",
    );
  }
}
