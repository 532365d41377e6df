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
 * - the same HTTP load on a `tidemark serve` with its local journal (durability always), and
 *   on a Node HTTP server that answers 204 at once and keeps nothing (bench/children/
 *   accept-all.mjs): the ceiling of HTTP itself with this client on this machine.
 *
 * Reports appends/s and the ratios. Flags: --quick (3 s per case instead of 10).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Pool } from "undici";
import { JetStreamStore, resolveJetStreamOptions } from "../src/jetstream/index.js";
import { SILENT_LOGGER } from "../src/logger.js";
import { loadFor, startAcceptAll, startNats, startTidemark } from "./jetstream-children.js";
import { fmt, saveResults, table } from "./lib.js";

const quick = process.argv.includes("--quick");
const SECONDS = quick ? 3 : 10;
const CONCURRENCY = 75;
const BODY = Buffer.alloc(100, "x");
const root = mkdtempSync(join(tmpdir(), "tidemark-bench-js-"));

async function main(): Promise<void> {
  const nats = await startNats(root);
  const tidemark = await startTidemark(root, nats.url, "tidemark-js");
  const local = await startTidemark(root, undefined, "tidemark-local");
  const nc = await connect({ servers: nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "RAW", subjects: ["raw.>"] });
    const js = jetstream(nc);
    const rawSerial = await loadFor(SECONDS, 1, async () => {
      await js.publish("raw.one", BODY);
    });
    const rawConcurrent = await loadFor(SECONDS, CONCURRENCY, async () => {
      await js.publish("raw.one", BODY);
    });
    const store = await JetStreamStore.open(
      resolveJetStreamOptions({ servers: [nats.url], prefix: "benchstore" }),
      SILENT_LOGGER,
    );
    const direct = await store.create("direct", { ds: { fork: null } });
    const storeRate = await loadFor(SECONDS, CONCURRENCY, async () => {
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
      const rate = await loadFor(SECONDS, CONCURRENCY, async () => {
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
    const ceiling = await startAcceptAll();
    const httpCeiling = await httpLoad(ceiling.url);
    ceiling.child.kill("SIGTERM");
    const info = await jsm.streams.info("TIDEMARK_DATA");
    const results = {
      seconds: SECONDS,
      rawSerialPerSecond: rawSerial,
      rawConcurrentPerSecond: rawConcurrent,
      storeAppendsPerSecond: storeRate,
      httpAppendsPerSecond: http,
      httpLocalJournalPerSecond: httpLocal,
      httpCeilingPerSecond: httpCeiling,
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
          [
            `HTTP ceiling: a server answering 204, keeping nothing, ${CONCURRENCY} concurrent`,
            fmt(httpCeiling),
          ],
        ],
      ),
    );
    console.log(
      `store / raw (${CONCURRENCY} in flight): ${(storeRate / rawConcurrent).toFixed(1)}x; tidemark / raw (1 in flight): ${results.ratioToSerial.toFixed(1)}x; tidemark / raw (${CONCURRENCY} in flight): ${results.ratioToConcurrent.toFixed(1)}x; tidemark / HTTP ceiling: ${(http / httpCeiling).toFixed(2)}x; HTTP ceiling / raw (${CONCURRENCY} in flight): ${(httpCeiling / rawConcurrent).toFixed(1)}x; failed appends: ${failed}; JetStream messages for the HTTP appends: ${info.state.messages}`,
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
