/**
 * The `nats` options of `tidemark serve` (config key `nats`, flag `--nats`), checked to the
 * leaves: a mistake is a clear INVALID_ARGUMENT at startup, never a failure at the first request.
 */
import { InvalidArgumentError } from "../errors.js";
import { PREFIX_PATTERN } from "./subjects.js";

export interface JetStreamConfig {
  /** NATS server URLs (`nats://host:4222`), or one string of them separated by commas. */
  servers: string[] | string;
  /** A credentials file (`.creds`: a user JWT and its NKey seed). */
  credentials?: string;
  token?: string;
  user?: string;
  pass?: string;
  /** Names the JetStream streams (`<PREFIX>_DATA`, `<PREFIX>_META`) and subjects; default tidemark. */
  prefix?: string;
  /** Replicas of the JetStream streams: 1 (one server) or 3 (a cluster); default 1. */
  replicas?: number;
  /** How long a request waits out NATS being unreachable or electing a leader; default 10 s. */
  patienceMs?: number;
}

export interface JetStreamOptions {
  servers: string[];
  credentials?: string;
  token?: string;
  user?: string;
  pass?: string;
  prefix: string;
  replicas: number;
  patienceMs: number;
}

const KEYS = [
  "servers",
  "credentials",
  "token",
  "user",
  "pass",
  "prefix",
  "replicas",
  "patienceMs",
];

export function resolveJetStreamOptions(config: JetStreamConfig): JetStreamOptions {
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new InvalidArgumentError("nats must be an object: { servers, prefix?, replicas?, … }");
  }
  for (const key of Object.keys(config)) {
    if (!KEYS.includes(key)) {
      throw new InvalidArgumentError(`nats.${key} is not an option (known: ${KEYS.join(", ")})`);
    }
  }
  const raw = typeof config.servers === "string" ? config.servers.split(",") : config.servers;
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new InvalidArgumentError("nats.servers must list at least one NATS URL");
  }
  const servers = raw.map((server) => {
    if (
      typeof server !== "string" ||
      !/^(nats|tls|ws|wss):\/\/[^\s,]+$|^[^\s,/:]+:\d+$/.test(server.trim())
    ) {
      throw new InvalidArgumentError(
        `nats.servers: ${JSON.stringify(server)} is not a NATS URL (nats://host:port)`,
      );
    }
    return server.trim();
  });
  for (const key of ["credentials", "token", "user", "pass"] as const) {
    const value = config[key];
    if (value !== undefined && (typeof value !== "string" || value === "")) {
      throw new InvalidArgumentError(`nats.${key} must be a non-empty string`);
    }
  }
  if ((config.user === undefined) !== (config.pass === undefined)) {
    throw new InvalidArgumentError("nats.user and nats.pass go together");
  }
  const prefix = config.prefix ?? "tidemark";
  if (typeof prefix !== "string" || !PREFIX_PATTERN.test(prefix)) {
    throw new InvalidArgumentError(
      "nats.prefix must be 1 to 32 letters, digits, '_' or '-' (it names JetStream streams and subjects)",
    );
  }
  const replicas = config.replicas ?? 1;
  if (replicas !== 1 && replicas !== 3 && replicas !== 5) {
    throw new InvalidArgumentError("nats.replicas must be 1, 3 or 5");
  }
  const patienceMs = config.patienceMs ?? 10_000;
  if (!Number.isSafeInteger(patienceMs) || patienceMs < 100 || patienceMs > 600_000) {
    throw new InvalidArgumentError("nats.patienceMs must be an integer from 100 to 600000");
  }
  const options: JetStreamOptions = { servers, prefix, replicas, patienceMs };
  if (config.credentials !== undefined) options.credentials = config.credentials;
  if (config.token !== undefined) options.token = config.token;
  if (config.user !== undefined) options.user = config.user;
  if (config.pass !== undefined) options.pass = config.pass;
  return options;
}
