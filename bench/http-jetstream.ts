/**
 * The JetStream part of `npm run bench:http`: `tidemark serve --nats` over HTTP against the same
 * server on its local journal and against raw JetStream from one Node process (the ceiling of
 * what JetStream gives a client here), all in the same run on one nats-server with
 * `jetstream { sync_interval: always }` (an fsync per stored message):
 *
 * - appends of 100 bytes, 75 concurrent, to one stream and over 1,000 streams: raw publishes
 *   (75 in flight, one message each), one tidemark process, two tidemark processes sharing the
 *   load (the clients split between them), the local journal, and the HTTP ceiling (a server
 *   that answers 204 and keeps nothing);
 * - catch-up of one stream written in 64 KiB appends: raw (an ordered consumer over the subject,
 *   one Node process), the tidemark process that wrote it, the other tidemark process (which
 *   never opened it), and the local journal.
 *
 * Flags: --quick (3 s per case, 64 MiB catch-up instead of 256 MiB).
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Pool } from "undici";
import { appendLoad, catchUp, create, type LoadResult, post } from "./http-load.js";
import { loadFor, startAcceptAll, startNats, startTidemark } from "./jetstream-children.js";
import { fmt, saveResults, table } from "./lib.js";

const quick = process.argv.includes("--quick");
const SECONDS = quick ? 3 : 10;
const CONCURRENCY = 75;
const STREAMS = 1000;
const SMALL = Buffer.alloc(100, "x");
const CHUNK = Buffer.alloc(64 * 1024, "y");
const CATCH_UP_BYTES = (quick ? 64 : 256) * 2 ** 20;
const root = mkdtempSync(join(tmpdir(), "tidemark-bench-http-js-"));

interface Process {
  url: string;
  child: ChildProcess;
}

function rssOf(child: ChildProcess): number {
  try {
    const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** The same load split over several servers (the workers divided between their pools). */
async function splitLoad(
  pools: Pool[],
  body: Buffer,
  pathFor: (i: number) => string,
): Promise<LoadResult> {
  const parts = await Promise.all(
    pools.map((pool, k) =>
      appendLoad(pool, Math.ceil((CONCURRENCY - k) / pools.length), SECONDS, body, pathFor),
    ),
  );
  const failures: Record<string, number> = {};
  for (const part of parts) {
    for (const [why, count] of Object.entries(part.failures))
      failures[why] = (failures[why] ?? 0) + count;
  }
  return {
    appends: parts.reduce((sum, part) => sum + part.appends, 0),
    errors: parts.reduce((sum, part) => sum + part.errors, 0),
    failures,
    seconds: Math.max(...parts.map((part) => part.seconds)),
    perSecond: parts.reduce((sum, part) => sum + part.perSecond, 0),
    p50: Math.max(...parts.map((part) => part.p50)),
    p99: Math.max(...parts.map((part) => part.p99)),
  };
}

/** Writes `bytes` to `path` in 64 KiB appends, 8 at a time. */
async function fill(pool: Pool, path: string, bytes: number): Promise<void> {
  await create(pool, path, "application/octet-stream");
  let left = bytes / CHUNK.byteLength;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (left-- > 0) {
        const status = await post(pool, path, CHUNK);
        if (status !== 204 && status !== 200) throw new Error(`fill ${path}: ${status}`);
      }
    }),
  );
}

async function main(): Promise<void> {
  const nats = await startNats(root);
  const a: Process = await startTidemark(root, nats.url, "js-a");
  const b: Process = await startTidemark(root, nats.url, "js-b");
  const local: Process = await startTidemark(root, undefined, "local");
  const ceiling: Process = await startAcceptAll();
  const rssMax = new Map<string, number>();
  const sampler = setInterval(() => {
    for (const [name, proc] of [
      ["js-a", a],
      ["js-b", b],
      ["local", local],
    ] as const) {
      rssMax.set(name, Math.max(rssMax.get(name) ?? 0, rssOf(proc.child)));
    }
  }, 100);
  const pool = (p: Process) => new Pool(p.url, { connections: CONCURRENCY });
  const [poolA, poolB, poolLocal, poolCeiling] = [a, b, local, ceiling].map(pool) as [
    Pool,
    Pool,
    Pool,
    Pool,
  ];
  const nc = await connect({ servers: nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "RAW", subjects: ["raw.>"] });
    const js = jetstream(nc);

    // Appends to one stream.
    const rawOne = await loadFor(SECONDS, CONCURRENCY, async () => {
      await js.publish("raw.one", SMALL);
    });
    for (const p of [poolA, poolLocal])
      await create(p, "/v1/stream/one", "application/octet-stream");
    const one = "/v1/stream/one";
    const oneA = await appendLoad(poolA, CONCURRENCY, SECONDS, SMALL, () => one);
    const oneAB = await splitLoad([poolA, poolB], SMALL, () => one);
    const oneLocal = await appendLoad(poolLocal, CONCURRENCY, SECONDS, SMALL, () => one);
    const oneCeiling = await appendLoad(poolCeiling, CONCURRENCY, SECONDS, SMALL, () => one);

    // Appends over 1,000 streams.
    let k = 0;
    const rawMany = await loadFor(SECONDS, CONCURRENCY, async () => {
      await js.publish(`raw.s.${k++ % STREAMS}`, SMALL);
    });
    const many = (i: number) => `/v1/stream/many-${i % STREAMS}`;
    for (const p of [poolA, poolLocal]) {
      for (let i = 0; i < STREAMS; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, (_, j) => create(p, many(i + j), "application/octet-stream")),
        );
      }
    }
    const manyA = await appendLoad(poolA, CONCURRENCY, SECONDS, SMALL, many);
    const manyAB = await splitLoad([poolA, poolB], SMALL, many);
    const manyLocal = await appendLoad(poolLocal, CONCURRENCY, SECONDS, SMALL, many);

    // Catch-up.
    const chunks = CATCH_UP_BYTES / CHUNK.byteLength;
    let written = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (written++ < chunks) await js.publish("raw.catchup", CHUNK);
      }),
    );
    const consumer = await js.consumers.get("RAW", { filter_subjects: ["raw.catchup"] });
    const rawStarted = performance.now();
    let rawBytes = 0;
    const messages = await consumer.consume();
    for await (const message of messages) {
      rawBytes += message.data.byteLength;
      if (message.info.pending === 0) break;
    }
    await messages.close();
    const rawCatchUp = rawBytes / ((performance.now() - rawStarted) / 1000);
    if (rawBytes !== CATCH_UP_BYTES) throw new Error(`raw catch-up read ${rawBytes} bytes`);
    await fill(poolA, "/v1/stream/big", CATCH_UP_BYTES);
    await fill(poolLocal, "/v1/stream/big", CATCH_UP_BYTES);
    const catchUpB = await catchUp(poolB, "/v1/stream/big", CATCH_UP_BYTES);
    const catchUpA = await catchUp(poolA, "/v1/stream/big", CATCH_UP_BYTES);
    const catchUpLocal = await catchUp(poolLocal, "/v1/stream/big", CATCH_UP_BYTES);

    const row = (name: string, result: LoadResult, raw: number): string[] => [
      name,
      fmt(result.perSecond),
      `${(result.perSecond / raw).toFixed(2)}×`,
      `${result.p50.toFixed(1)} / ${result.p99.toFixed(1)} ms`,
      String(result.errors),
    ];
    console.log(
      table(
        ["100 B appends, 75 concurrent", "per second", "÷ raw", "p50 / p99", "failed"],
        [
          ["raw JetStream publish, one subject, 75 in flight", fmt(rawOne), "1×", "", ""],
          row("tidemark --nats, one stream", oneA, rawOne),
          row("two tidemark --nats processes, one stream", oneAB, rawOne),
          row("tidemark, local journal, one stream", oneLocal, rawOne),
          row("HTTP ceiling (answers 204, keeps nothing)", oneCeiling, rawOne),
          ["raw JetStream publish, 1,000 subjects, 75 in flight", fmt(rawMany), "1×", "", ""],
          row("tidemark --nats, 1,000 streams", manyA, rawMany),
          row("two tidemark --nats processes, 1,000 streams", manyAB, rawMany),
          row("tidemark, local journal, 1,000 streams", manyLocal, rawMany),
        ],
      ),
    );
    const mbs = (bytesPerSecond: number) => `${Math.round(bytesPerSecond / 1e6)} MB/s`;
    console.log(
      table(
        [`catch-up of ${CATCH_UP_BYTES / 2 ** 20} MiB (64 KiB appends)`, "rate", "÷ raw"],
        [
          ["raw JetStream ordered consumer, one Node process", mbs(rawCatchUp), "1×"],
          [
            "tidemark --nats, the process that wrote it",
            mbs(catchUpA.bytesPerSecond),
            `${(catchUpA.bytesPerSecond / rawCatchUp).toFixed(2)}×`,
          ],
          [
            "tidemark --nats, another process (first read)",
            mbs(catchUpB.bytesPerSecond),
            `${(catchUpB.bytesPerSecond / rawCatchUp).toFixed(2)}×`,
          ],
          [
            "tidemark, local journal",
            mbs(catchUpLocal.bytesPerSecond),
            `${(catchUpLocal.bytesPerSecond / rawCatchUp).toFixed(2)}×`,
          ],
        ],
      ),
    );
    const rss = Object.fromEntries(
      [...rssMax].map(([name, bytes]) => [name, Math.round(bytes / 1e6)]),
    );
    console.log(`peak RSS (MB): ${JSON.stringify(rss)}`);
    const file = saveResults(quick ? "http-jetstream-quick" : "http-jetstream", {
      quick,
      seconds: SECONDS,
      appends: { rawOne, oneA, oneAB, oneLocal, oneCeiling, rawMany, manyA, manyAB, manyLocal },
      catchUp: { bytes: CATCH_UP_BYTES, rawCatchUp, catchUpA, catchUpB, catchUpLocal },
      rssMaxMb: rss,
    });
    console.log(`saved ${file}`);
  } finally {
    clearInterval(sampler);
    await Promise.all([poolA, poolB, poolLocal, poolCeiling].map((p) => p.close()));
    await nc.close();
    for (const p of [a, b, local, ceiling, nats]) p.child.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 500));
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
