/**
 * `npm run bench:jetstream-listing`: what the admin stream list costs on a JetStream-backed
 * server. One nats-server, one `tidemark serve --nats` (a child process); streams are made
 * through the JetStream store from this process (the same metadata `PUT` writes, much faster
 * than HTTP), 1,000 and then 10,000 of them, and for each count, in the same run:
 *
 * - the store's names (the metadata stream's subject list), from this process;
 * - `GET /v1/streams?limit=100`: the first page, a page in the middle (`after`), a page of
 *   1,000, and a prefix that matches one stream (the names are read whatever the prefix);
 * - `GET /v1/streams/<path>` of a stream the server has not opened yet, and again (opened).
 *
 * Medians of REPEATS requests each, in milliseconds. Flags: --quick (fewer repeats),
 * --counts=1000,10000,100000 (the stream counts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JetStreamStore, resolveJetStreamOptions } from "../src/jetstream/index.js";
import { SILENT_LOGGER } from "../src/logger.js";
import { startNats, startTidemark } from "./jetstream-children.js";
import { saveResults, table } from "./lib.js";

const quick = process.argv.includes("--quick");
const REPEATS = quick ? 5 : 21;
const countsFlag = process.argv.find((arg) => arg.startsWith("--counts="));
/** Stream counts to measure at, in order (`--counts=1000,10000,100000`). */
const COUNTS =
  countsFlag === undefined ? [1000, 10_000] : countsFlag.slice(9).split(",").map(Number);
const root = mkdtempSync(join(tmpdir(), "tidemark-bench-jsl-"));

async function median(task: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const started = performance.now();
    await task();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

async function get(url: string, path: string): Promise<unknown> {
  const res = await fetch(`${url}${path}`);
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

const nameOf = (i: number) => `bench/${String(i).padStart(6, "0")}`;
const META = {
  ds: {
    contentType: "application/json",
    ttlSeconds: null,
    expiresAt: null,
    incarnation: "bench",
    softDeleted: false,
    fork: null,
  },
};

async function main(): Promise<void> {
  const nats = await startNats(root, { syncAlways: false });
  const tidemark = await startTidemark(root, nats.url, "tidemark");
  const store = await JetStreamStore.open(
    resolveJetStreamOptions({ servers: [nats.url] }),
    SILENT_LOGGER,
  );
  const rows: string[][] = [];
  const results: Record<string, Record<string, number>> = {};
  try {
    let made = 0;
    for (const count of COUNTS) {
      while (made < count) {
        const batch: Promise<unknown>[] = [];
        for (let i = 0; i < 64 && made < count; i++) batch.push(store.create(nameOf(made++), META));
        await Promise.all(batch);
      }
      const middle = encodeURIComponent(nameOf(Math.floor(count / 2)));
      let fresh = count - 1; // never opened by the server: the list does not open streams
      const figures: Record<string, number> = {
        "store names()": await median(() => store.names()),
        "first page, limit=100": await median(() => get(tidemark.url, "/v1/streams?limit=100")),
        "middle page, limit=100": await median(() =>
          get(tidemark.url, `/v1/streams?limit=100&after=${middle}`),
        ),
        "one page of limit=1000": await median(() => get(tidemark.url, "/v1/streams?limit=1000")),
        "prefix matching one stream": await median(() =>
          get(tidemark.url, `/v1/streams?prefix=${encodeURIComponent(nameOf(7))}`),
        ),
        "detail, first look (opens it)": await median(() =>
          get(tidemark.url, `/v1/streams/${nameOf(fresh--)}`),
        ),
        "detail, opened": await median(() => get(tidemark.url, `/v1/streams/${nameOf(count - 1)}`)),
      };
      results[String(count)] = figures;
      for (const [what, ms] of Object.entries(figures)) {
        rows.push([String(count), what, ms.toFixed(1)]);
      }
    }
  } finally {
    await store.close();
    for (const child of [tidemark.child, nats.child]) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
  }
  console.log(table(["streams", "request", "median ms"], rows));
  console.log(`saved ${saveResults("jetstream-listing", { repeats: REPEATS, results })}`);
  rmSync(root, { recursive: true, force: true });
}

await main();
