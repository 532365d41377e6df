/**
 * `tidemark serve`: the Durable Streams server on a local journal. Says where the data lives and
 * where it listens; logs JSON lines (pino) on stdout. SIGTERM or SIGINT stop it gracefully (no new
 * requests, live readers answered, in-flight appends finished, the journal synced and unlocked)
 * and it exits 0; a second signal exits at once with 1.
 */
import { resolve } from "node:path";
import pino from "pino";
import { InvalidArgumentError } from "../errors.js";
import { type RunningServer, startServer } from "../server/server.js";
import { resolveServeConfig } from "./config.js";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export async function serve(flags: Record<string, string | undefined>): Promise<RunningServer> {
  const config = await resolveServeConfig(flags, process.env);
  const { logLevel, ...options } = config;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new InvalidArgumentError(
      `unknown log level ${JSON.stringify(logLevel)}: use one of ${LOG_LEVELS.join(", ")}`,
      { option: "logLevel" },
    );
  }
  const logger = pino({ name: "tidemark", level: logLevel });
  const dir = resolve(options.dir);
  const running = await startServer({ ...options, dir, logger });
  const nats = options.nats;
  const where =
    nats === undefined
      ? `the journal in ${dir}`
      : `the streams in NATS JetStream (${[nats.servers].flat().join(", ")}; ${dir} keeps subscriptions and outboxes)`;
  process.stderr.write(`tidemark: serving ${where} at ${running.url}/v1/stream/\n`);
  process.stderr.write(`tidemark: the dashboard is at ${running.url}/\n`);
  let signals = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      process.stderr.write(`tidemark: ${signal} again, exiting without waiting\n`);
      process.exit(1);
    }
    process.stderr.write(`tidemark: ${signal}: finishing requests, syncing the journal\n`);
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`tidemark: stopping failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  return running;
}
