/**
 * `tidemark serve` configuration: defaults, then a JSON config file (`--config`, or
 * TIDEMARK_CONFIG), then environment variables, then command-line flags; later wins. Unknown keys
 * and malformed values are errors that name the key, never silently ignored.
 */
import { readFile } from "node:fs/promises";
import { InvalidArgumentError, isErrnoCode, TidemarkError } from "../errors.js";
import type { ServerOptions } from "../server/server.js";

/** Keys a config file may hold, and the environment variable for each scalar one. */
const SCALARS: Record<string, { env: string; kind: "string" | "integer" }> = {
  dir: { env: "TIDEMARK_DIR", kind: "string" },
  host: { env: "TIDEMARK_HOST", kind: "string" },
  port: { env: "TIDEMARK_PORT", kind: "integer" },
  durability: { env: "TIDEMARK_DURABILITY", kind: "string" },
  segmentBytesMax: { env: "TIDEMARK_SEGMENT_BYTES_MAX", kind: "integer" },
  longPollTimeoutMs: { env: "TIDEMARK_LONG_POLL_TIMEOUT_MS", kind: "integer" },
  sseLifetimeMs: { env: "TIDEMARK_SSE_LIFETIME_MS", kind: "integer" },
  bodyBytesMax: { env: "TIDEMARK_BODY_BYTES_MAX", kind: "integer" },
  bodyBytesInFlightMax: { env: "TIDEMARK_BODY_BYTES_IN_FLIGHT_MAX", kind: "integer" },
  bodyBudgetWaitMs: { env: "TIDEMARK_BODY_BUDGET_WAIT_MS", kind: "integer" },
  bodyIdleTimeoutMs: { env: "TIDEMARK_BODY_IDLE_TIMEOUT_MS", kind: "integer" },
  readBytesMax: { env: "TIDEMARK_READ_BYTES_MAX", kind: "integer" },
  catchUpBytesMax: { env: "TIDEMARK_CATCH_UP_BYTES_MAX", kind: "integer" },
  liveConnectionsMax: { env: "TIDEMARK_LIVE_CONNECTIONS_MAX", kind: "integer" },
  headersTimeoutMs: { env: "TIDEMARK_HEADERS_TIMEOUT_MS", kind: "integer" },
  requestTimeoutMs: { env: "TIDEMARK_REQUEST_TIMEOUT_MS", kind: "integer" },
  keepAliveTimeoutMs: { env: "TIDEMARK_KEEP_ALIVE_TIMEOUT_MS", kind: "integer" },
  shutdownGraceMs: { env: "TIDEMARK_SHUTDOWN_GRACE_MS", kind: "integer" },
  logLevel: { env: "TIDEMARK_LOG_LEVEL", kind: "string" },
  publicUrl: { env: "TIDEMARK_PUBLIC_URL", kind: "string" },
};
const OBJECTS = ["journalLimits", "streamLimits", "auth", "outboxes", "mirrors", "nats"] as const;
/** Keys whose value is a permission mode: an integer, or octal digits as a string ("0640"). */
const MODES = ["fileMode", "dirMode"] as const;

export type ServeConfig = Omit<ServerOptions, "logger"> & { logLevel: string };

export async function resolveServeConfig(
  flags: Record<string, string | undefined>,
  env: NodeJS.ProcessEnv,
): Promise<ServeConfig> {
  const merged: Record<string, unknown> = { dir: "./tidemark-data", logLevel: "info" };
  const configPath = flags["config"] ?? env["TIDEMARK_CONFIG"];
  if (configPath !== undefined) Object.assign(merged, await readConfigFile(configPath));
  for (const [key, { env: name, kind }] of Object.entries(SCALARS)) {
    const value = env[name];
    if (value !== undefined && value !== "") merged[key] = convert(key, value, kind, name);
  }
  const nats = flags["nats"] ?? env["TIDEMARK_NATS"];
  if (nats !== undefined && nats !== "") {
    // --nats names the servers; the rest of the `nats` object (credentials…) comes from the file.
    const fromFile = merged["nats"];
    merged["nats"] = {
      ...(typeof fromFile === "object" && fromFile !== null ? fromFile : {}),
      servers: nats,
    };
  }
  for (const [key, value] of Object.entries(flags)) {
    if (key === "config" || key === "nats" || value === undefined) continue;
    const spec = SCALARS[key];
    if (spec === undefined) throw new InvalidArgumentError(`unknown option --${key}`);
    merged[key] = convert(key, value, spec.kind, `--${key}`);
  }
  return merged as ServeConfig;
}

async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if (isErrnoCode(err, "EACCES") || isErrnoCode(err, "EPERM")) {
      throw new TidemarkError(
        "PERMISSION_DENIED",
        `this user may not read the config file ${path} (check its owner and mode)`,
        { path },
      );
    }
    throw new InvalidArgumentError(
      `cannot read the config file ${path}: ${(err as Error).message}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(
      `the config file ${path} is not valid JSON: ${(err as Error).message}`,
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new InvalidArgumentError(`the config file ${path} must hold a JSON object`);
  }
  const config = parsed as Record<string, unknown>;
  for (const [key, value] of Object.entries(config)) {
    const spec = SCALARS[key];
    if ((MODES as readonly string[]).includes(key)) {
      config[key] = modeValue(path, key, value);
    } else if (spec !== undefined) {
      if (spec.kind === "integer" ? !Number.isSafeInteger(value) : typeof value !== "string") {
        throw new InvalidArgumentError(
          `${path}: ${key} must be ${spec.kind === "integer" ? "an integer" : "a string"}`,
        );
      }
    } else if (!(OBJECTS as readonly string[]).includes(key)) {
      throw new InvalidArgumentError(`${path}: unknown key ${JSON.stringify(key)}`);
    } else if (typeof value !== "object" || value === null) {
      throw new InvalidArgumentError(`${path}: ${key} must be an object`);
    }
  }
  return config;
}

function convert(
  key: string,
  value: string,
  kind: "string" | "integer",
  source: string,
): string | number {
  if (kind === "string") return value;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError(
      `${source} (${key}) must be a non-negative integer, got ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}

/** A permission mode from the config file: octal digits as a string ("0640"), or a number. */
function modeValue(path: string, key: string, value: unknown): number {
  if (typeof value === "string" && /^0?[0-7]{3}$/.test(value)) return Number.parseInt(value, 8);
  if (typeof value === "number" && Number.isInteger(value)) return value;
  throw new InvalidArgumentError(
    `${path}: ${key} must be octal permission bits as a string, such as "0640", got ${JSON.stringify(value)}`,
  );
}
