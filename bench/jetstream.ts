/**
 * `npm run bench:jetstream`: group commit on JetStream. One nats-server with
 * `jetstream { sync_interval: always }` (an fsync per stored message), then in the same run:
 *
 * - raw: single-message publishes of 100 bytes to one subject from this process, awaited one
 *   at a time, and with 75 in flight (the NATS client, no tidemark);
 * - tidemark: 75 concurrent HTTP appends of 100 bytes to one stream of `tidemark serve --nats`
 *   (a child process): appends that arrive while a publish is in flight go out together in the
 *   next one, so one fsync carries many appends;
 * - the JetStream store itself from this process (no HTTP), 75 appends at a time: what group
 *   commit gives before HTTP costs anything;
 * - the same HTTP load on a `tidemark serve` with its local journal (durability always), for
 *   the cost of HTTP itself on this machine.
 *
 * Reports appends/s and the ratios. Flags: --quick (3 s per case instead of 10).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Pool } from "undici";
import { JetStreamStore, resolveJetStreamOptions } from "../src/jetstream/index.js";
import { SILENT_LOGGER } from "../src/logger.js";
import { fmt, saveResults, table } from "./lib.js";

const quick = process.argv.includes("--quick");
const SECONDS = quick ? 3 : 10;
const CONCURRENCY = 75;
const BODY = Buffer.alloc(100, "x");
const root = mkdtempSync(join(tmpdir(), "tidemark-bench-js-"));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function startNats(): Promise<{ url: string; child: ChildProcess }> {
  const binary = execFileSync("bash", ["scripts/nats-server.sh"], { encoding: "utf8" }).trim();
  const port = await freePort();
  const store = join(root, "nats");
  mkdirSync(store);
  const config = join(root, "nats.conf");
  writeFileSync(
    config,
    `listen: 127.0.0.1:${port}\njetstream {\n  store_dir: "${store}"\n  sync_interval: always\n}\n`,
  );
  const child = spawn(binary, ["-c", config], { stdio: ["ignore", "ignore", "pipe"] });
  const url = `nats://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
    try {
      const nc = await connect({ servers: url });
      await nc.close();
      return { url, child };
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error("nats-server did not start");
}

async function startTidemark(
  nats: string | undefined,
  dir: string,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/cli/main.ts", "serve", "--dir", join(root, dir)]
      .concat(["--port", "0", "--log-level", "error"])
      .concat(nats === undefined ? [] : ["--nats", nats]),
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let output = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    const match = /at (http:\/\/127\.0\.0\.1:\d+)\/v1\/stream\//.exec(output);
    if (match !== null) return { url: match[1]!, child };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`tidemark did not start: ${output}`);
}

/** Runs `workers` loops of `task` for SECONDS; returns completed tasks per second. */
async function load(workers: number, task: () => Promise<void>): Promise<number> {
  let done = 0;
  const until = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < until) {
        await task();
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const nats = await startNats();
  const tidemark = await startTidemark(nats.url, "tidemark-js");
  const local = await startTidemark(undefined, "tidemark-local");
  const nc = await connect({ servers: nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "RAW", subjects: ["raw.>"] });
    const js = jetstream(nc);
    const rawSerial = await load(1, async () => {
      await js.publish("raw.one", BODY);
    });
    const rawConcurrent = await load(CONCURRENCY, async () => {
      await js.publish("raw.one", BODY);
    });
    const store = await JetStreamStore.open(
      resolveJetStreamOptions({ servers: [nats.url], prefix: "benchstore" }),
      SILENT_LOGGER,
    );
    const direct = await store.create("direct", { ds: { fork: null } });
    const storeRate = await load(CONCURRENCY, async () => {
      await direct.append([BODY], undefined);
    });
    await store.close();
    let failed = 0;
    const httpLoad = async (url: string) => {
      const pool = new Pool(url, { connections: CONCURRENCY });
      const put = await pool.request({
        path: "/v1/stream/bench",
        method: "PUT",
        headers: { "content-type": "application/octet-stream" },
      });
      await put.body.dump();
      const rate = await load(CONCURRENCY, async () => {
        const response = await pool.request({
          path: "/v1/stream/bench",
          method: "POST",
          headers: { "content-type": "application/octet-stream" },
          body: BODY,
        });
        await response.body.dump();
        if (response.statusCode !== 204) failed++;
      });
      await pool.close();
      return rate;
    };
    const http = await httpLoad(tidemark.url);
    const httpLocal = await httpLoad(local.url);
    const info = await jsm.streams.info("TIDEMARK_DATA");
    const results = {
      seconds: SECONDS,
      rawSerialPerSecond: rawSerial,
      rawConcurrentPerSecond: rawConcurrent,
      storeAppendsPerSecond: storeRate,
      httpAppendsPerSecond: http,
      httpLocalJournalPerSecond: httpLocal,
      httpFailed: failed,
      dataMessages: info.state.messages,
      ratioToSerial: http / rawSerial,
      ratioToConcurrent: http / rawConcurrent,
    };
    console.log(
      table(
        ["case (100 B, one stream, sync_interval: always)", "per second"],
        [
          ["raw JetStream publish, 1 in flight", fmt(rawSerial)],
          [`raw JetStream publish, ${CONCURRENCY} in flight`, fmt(rawConcurrent)],
          [`JetStream store append (no HTTP), ${CONCURRENCY} concurrent`, fmt(storeRate)],
          [`tidemark HTTP append on JetStream, ${CONCURRENCY} concurrent`, fmt(http)],
          [`tidemark HTTP append on the local journal, ${CONCURRENCY} concurrent`, fmt(httpLocal)],
        ],
      ),
    );
    console.log(
      `store / raw (${CONCURRENCY} in flight): ${(storeRate / rawConcurrent).toFixed(1)}x; tidemark / raw (1 in flight): ${results.ratioToSerial.toFixed(1)}x; tidemark / raw (${CONCURRENCY} in flight): ${results.ratioToConcurrent.toFixed(1)}x; failed appends: ${failed}; JetStream messages for the HTTP appends: ${info.state.messages}`,
    );
    console.log(`saved ${saveResults("jetstream", results)}`);
  } finally {
    await nc.close();
    tidemark.child.kill("SIGTERM");
    local.child.kill("SIGTERM");
    nats.child.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 500));
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
