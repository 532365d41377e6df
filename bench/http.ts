/**
 * `npm run bench:http`: `tidemark serve` against the reference Durable Streams server
 * (@durable-streams/server, file-backed), both started as child processes on loopback and loaded
 * in the same run by undici from this process. Both sync every acknowledged append to disk
 * (tidemark's default durability 'always'; the reference fdatasyncs each append).
 *
 * Cases: 100-byte appends at concurrency 75 to one stream and over 1,000 streams; 1 MiB appends
 * at concurrency 15; catch-up read of a 1 GiB stream; 1,000 SSE readers tailing one stream
 * (delivery latency). The resident memory of each server is sampled all along.
 *
 * The catch-up read runs three times (the page cache holds the stream: both servers just wrote
 * it); the median is reported.
 *
 * Flags: --quick (shorter cases, 256 MiB catch-up), --only=tidemark|reference.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { setMaxListeners } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, Pool } from "undici";
import {
  appendLoad,
  catchUp,
  countedGet,
  create,
  type LoadResult,
  percentile,
} from "./http-load.js";
import { fmt, saveResults, settle, table } from "./lib.js";

const quick = process.argv.includes("--quick");
const only = /--only=(\w+)/.exec(process.argv.join(" "))?.[1];
const SECONDS = quick ? 3 : 10;
const CATCH_UP_BYTES = (quick ? 256 : 1024) * 2 ** 20;
const SSE_READERS = 1000;
const SSE_SECONDS = quick ? 4 : 10;
const SSE_APPENDS_PER_SECOND = 50;
const MiB = 2 ** 20;
const root = mkdtempSync(join(tmpdir(), "tidemark-bench-http-"));

interface Target {
  name: string;
  url: string;
  child: ChildProcess;
  rssMax: number;
  rssTimer: NodeJS.Timeout;
}

function rssOf(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

async function startTarget(name: string, existingDir?: string): Promise<Target> {
  const dir = existingDir ?? mkdtempSync(join(root, `${name}-`));
  const script =
    name === "plain" ? "bench/children/plain-server.mjs" : "bench/children/reference-server.mjs";
  const child =
    name === "tidemark"
      ? spawn(
          process.execPath,
          ["dist/cli/main.js", "serve", "--dir", dir, "--port", "0", "--log-level", "warn"],
          { stdio: ["ignore", "pipe", "pipe"] },
        )
      : spawn(process.execPath, [script, dir], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const match = /(http:\/\/127\.0\.0\.1:\d+)/.exec(output);
    if (match !== null) {
      const target: Target = {
        name,
        url: match[1]!,
        child,
        rssMax: 0,
        rssTimer: setInterval(() => {
          target.rssMax = Math.max(target.rssMax, rssOf(child.pid!));
        }, 100),
      };
      return target;
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`${name} did not start: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function stopTarget(target: Target): Promise<void> {
  clearInterval(target.rssTimer);
  const exited = new Promise((resolve) => target.child.once("exit", resolve));
  target.child.kill("SIGTERM");
  await exited;
}

/**
 * SSE readers tail a JSON stream while one writer appends `{"t": <send time>}` at a steady
 * rate; each delivery's latency is its receipt time minus its send time (same process clock).
 * A reader whose connection ends (lifetime limits) reconnects from its last offset.
 */
async function sseFanOut(url: string, pool: Pool, path: string) {
  const agent = new Agent({ connections: null, pipelining: 0 });
  const latencies: number[] = [];
  const received = new Array<number>(SSE_READERS).fill(0);
  let connected = 0;
  let stopping = false;
  const controller = new AbortController();
  setMaxListeners(SSE_READERS + 10, controller.signal);

  // A raw dispatch handler per connection (no stream or async iterator per chunk), so the
  // client, which shares this machine's two cores with the server, costs as little as it can.
  const readOnce = (reader: number, from: string): Promise<string> =>
    new Promise((resolve, reject) => {
      let offset = from;
      let buffered = "";
      let status = 0;
      const finish = () => {
        if (status === 200) connected--;
        resolve(offset);
      };
      agent.dispatch(
        { origin: url, path: `${path}?offset=${offset}&live=sse`, method: "GET" },
        {
          onConnect(abort) {
            controller.signal.addEventListener("abort", () => abort(), { once: true });
          },
          onError(err) {
            if (stopping) finish();
            else reject(err);
          },
          onHeaders(statusCode) {
            status = statusCode;
            if (status !== 200) reject(new Error(`SSE ${path}: ${status}`));
            else connected++;
            return true;
          },
          onData(chunk) {
            buffered += chunk.toString("utf8");
            let end = buffered.indexOf("\n\n");
            while (end !== -1) {
              const event = buffered.slice(0, end);
              buffered = buffered.slice(end + 2);
              end = buffered.indexOf("\n\n");
              if (event.startsWith("event: data") || event.startsWith("event:data")) {
                const now = performance.now();
                for (const match of event.matchAll(/"t":([0-9.]+)/g)) {
                  latencies.push(now - Number(match[1]));
                  received[reader]!++;
                }
              } else {
                const next = /"streamNextOffset":"([^"]+)"/.exec(event);
                if (next !== null) offset = next[1]!;
              }
            }
            return true;
          },
          onComplete: finish,
        },
      );
    });
  const readers = Array.from({ length: SSE_READERS }, async (_, reader) => {
    let offset = "now";
    while (!stopping) offset = await readOnce(reader, offset);
  });
  const waitUntil = Date.now() + 30_000;
  while (connected < SSE_READERS && Date.now() < waitUntil) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (connected < SSE_READERS) throw new Error(`only ${connected} SSE readers connected`);

  let sent = 0;
  const interval = 1000 / SSE_APPENDS_PER_SECOND;
  const started = performance.now();
  while (performance.now() - started < SSE_SECONDS * 1000) {
    const response = await pool.request({
      path,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ t: performance.now() }),
    });
    await response.body.dump();
    if (response.statusCode === 200 || response.statusCode === 204) sent++;
    const due = started + (sent + 1) * interval;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
  }
  const settleUntil = Date.now() + 5000;
  while (latencies.length < sent * SSE_READERS && Date.now() < settleUntil) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  stopping = true;
  controller.abort();
  await Promise.allSettled(readers);
  await agent.close();
  latencies.sort((a, b) => a - b);
  const missing = received.reduce((sum, count) => sum + Math.max(0, sent - count), 0);
  return {
    sent,
    deliveries: latencies.length,
    missing,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? Number.NaN,
  };
}

async function runTarget(name: string) {
  process.stderr.write(`${name}\n`);
  const target = await startTarget(name);
  const pool = new Pool(target.url, { connections: 100, pipelining: 1 });
  const rss: Record<string, number> = {};
  const phase = (label: string) => {
    rss[label] = target.rssMax;
    target.rssMax = rssOf(target.child.pid!);
  };
  try {
    const small = Buffer.alloc(100, "x");
    await create(pool, "/v1/stream/one", "application/octet-stream");
    settle();
    const one = await appendLoad(pool, 75, SECONDS, small, () => "/v1/stream/one");
    process.stderr.write(`  100 B ×75, one stream: ${fmt(one.perSecond)}/s\n`);
    phase("one stream");

    for (let i = 0; i < 1000; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          create(pool, `/v1/stream/many/${i + j}`, "application/octet-stream"),
        ),
      );
    }
    settle();
    const many = await appendLoad(pool, 75, SECONDS, small, (i) => `/v1/stream/many/${i % 1000}`);
    process.stderr.write(`  100 B ×75, 1,000 streams: ${fmt(many.perSecond)}/s\n`);
    phase("1,000 streams");

    const large = Buffer.alloc(MiB, "y");
    await create(pool, "/v1/stream/large", "application/octet-stream");
    settle();
    const big = await appendLoad(pool, 15, SECONDS, large, () => "/v1/stream/large");
    process.stderr.write(`  1 MiB ×15: ${fmt(big.perSecond)}/s\n`);
    phase("1 MiB appends");

    await create(pool, "/v1/stream/catch-up", "application/octet-stream");
    const chunks = CATCH_UP_BYTES / MiB;
    let filled = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (filled < chunks) {
          filled++;
          const response = await pool.request({
            path: "/v1/stream/catch-up",
            method: "POST",
            headers: { "content-type": "application/octet-stream" },
            body: large,
          });
          await response.body.dump();
          if (response.statusCode !== 200 && response.statusCode !== 204) {
            throw new Error(`filling the catch-up stream: ${response.statusCode}`);
          }
        }
      }),
    );
    phase("filling");
    const reads = [];
    for (let pass = 0; pass < 3; pass++) {
      settle();
      reads.push(await catchUp(pool, "/v1/stream/catch-up", CATCH_UP_BYTES));
    }
    reads.sort((a, b) => a.bytesPerSecond - b.bytesPerSecond);
    const read = { ...reads[1]!, passes: reads.map((r) => r.bytesPerSecond) };
    process.stderr.write(`  catch-up: ${fmt(read.bytesPerSecond / 1e6)} MB/s (median of 3)\n`);
    phase("catch-up");

    await create(pool, "/v1/stream/live", "application/json");
    const sse = await sseFanOut(target.url, pool, "/v1/stream/live");
    process.stderr.write(`  SSE ×${SSE_READERS}: p50 ${sse.p50.toFixed(1)} ms\n`);
    phase("SSE");
    return { name, one, many, big, read, sse, rss };
  } finally {
    await pool.close();
    await stopTarget(target);
  }
}

const failed = (r: LoadResult) =>
  r.errors === 0
    ? "0 errors"
    : `${r.errors} errors (${Object.entries(r.failures)
        .map(([why, count]) => `${why} ×${count}`)
        .join(", ")})`;
const ms = (value: number) => (Number.isFinite(value) ? `${value.toFixed(1)} ms` : "—");
const mb = (bytes: number) => `${Math.round(bytes / 1e6)} MB`;

/** The ceiling: the same bytes from a plain Node server's memory, to the same client. */
async function plainCatchUp() {
  const target = await startTarget("plain");
  const pool = new Pool(target.url, { connections: 4, pipelining: 1 });
  try {
    const passes: number[] = [];
    for (let pass = 0; pass < 3; pass++) {
      const started = performance.now();
      const response = await countedGet(pool, `/?bytes=${CATCH_UP_BYTES}`);
      if (response.bytes !== CATCH_UP_BYTES) throw new Error(`plain read ${response.bytes} bytes`);
      passes.push(CATCH_UP_BYTES / ((performance.now() - started) / 1000));
    }
    passes.sort((a, b) => a - b);
    process.stderr.write(`  plain server from memory: ${fmt(passes[1]! / 1e6)} MB/s\n`);
    return { bytesPerSecond: passes[1]!, passes };
  } finally {
    await pool.close();
    await stopTarget(target);
  }
}

/** A catch-up read of 1M records of 200 bytes, from a journal filled beforehand. */
async function smallRecordsCatchUp() {
  const count = quick ? 200_000 : 1_000_000;
  const dir = mkdtempSync(join(root, "records-"));
  const fill = spawn(process.execPath, ["bench/children/fill-records.mjs", dir, String(count)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((resolve, reject) =>
    fill.once("exit", (code) =>
      code === 0 ? resolve(undefined) : reject(new Error("fill failed")),
    ),
  );
  const target = await startTarget("tidemark", dir);
  const pool = new Pool(target.url, { connections: 4, pipelining: 1 });
  try {
    const passes: number[] = [];
    for (let pass = 0; pass < 3; pass++) {
      settle();
      const started = performance.now();
      const read = await catchUp(pool, "/v1/stream/records", count * 200);
      void read;
      passes.push(count / ((performance.now() - started) / 1000));
    }
    passes.sort((a, b) => a - b);
    process.stderr.write(`  200 B records catch-up: ${fmt(passes[1]!)} records/s\n`);
    return { recordsPerSecond: passes[1]!, passes, count, rssMax: target.rssMax };
  } finally {
    await pool.close();
    await stopTarget(target);
  }
}

const names = only === undefined ? ["tidemark", "reference"] : [only];
const results = [];
for (const name of names) results.push(await runTarget(name));
const plain = only === "reference" ? undefined : await plainCatchUp();
const records = only === "reference" ? undefined : await smallRecordsCatchUp();
rmSync(root, { recursive: true, force: true });

const rows: string[][] = [];
for (const r of results) {
  rows.push([
    `${r.name}: 100 B appends ×75, one stream`,
    `${fmt(r.one.perSecond)}/s`,
    `p50 ${ms(r.one.p50)}, p99 ${ms(r.one.p99)}, ${failed(r.one)}`,
  ]);
  rows.push([
    `${r.name}: 100 B appends ×75, 1,000 streams`,
    `${fmt(r.many.perSecond)}/s`,
    `p50 ${ms(r.many.p50)}, p99 ${ms(r.many.p99)}, ${failed(r.many)}`,
  ]);
  rows.push([
    `${r.name}: 1 MiB appends ×15`,
    `${fmt(r.big.perSecond)}/s (${mb(r.big.perSecond * MiB)}/s)`,
    `p50 ${ms(r.big.p50)}, p99 ${ms(r.big.p99)}, ${failed(r.big)}`,
  ]);
  rows.push([
    `${r.name}: catch-up read of ${CATCH_UP_BYTES / MiB} MiB`,
    `${(r.read.bytesPerSecond / 1e9).toFixed(2)} GB/s`,
    `median of 3 passes (${r.read.passes.map((v) => (v / 1e9).toFixed(2)).join(" / ")}), ${r.read.requests} responses each`,
  ]);
  rows.push([
    `${r.name}: ${SSE_READERS} SSE readers, ${SSE_APPENDS_PER_SECOND} appends/s`,
    `p50 ${ms(r.sse.p50)}, p99 ${ms(r.sse.p99)}`,
    `${r.sse.deliveries} deliveries, ${r.sse.missing} missing, max ${ms(r.sse.max)}`,
  ]);
  rows.push([
    `${r.name}: server RSS, highest sample per phase`,
    Object.values(r.rss)
      .map((v) => mb(v))
      .join(" / "),
    Object.keys(r.rss).join(" / "),
  ]);
}
if (records !== undefined) {
  rows.push([
    `tidemark: catch-up of ${records.count.toLocaleString("en-US")} records of 200 B`,
    `${fmt(records.recordsPerSecond)} records/s`,
    `median of 3 (${records.passes.map((v) => fmt(v)).join(" / ")}), server RSS ${mb(records.rssMax)}`,
  ]);
}
if (plain !== undefined) {
  rows.push([
    `plain Node server: the same ${CATCH_UP_BYTES / MiB} MiB from memory`,
    `${(plain.bytesPerSecond / 1e9).toFixed(2)} GB/s`,
    `median of 3 (${plain.passes.map((v) => (v / 1e9).toFixed(2)).join(" / ")})`,
  ]);
}
console.log(table(["case", "result", "detail"], rows));
const mine = results.find((r) => r.name === "tidemark");
if (mine !== undefined) {
  const of = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  const targets: string[][] = [
    [
      "1,000 streams / one stream (100 B ×75)",
      of(mine.many.perSecond, mine.one.perSecond),
      "≥ 0.8×",
    ],
  ];
  if (plain !== undefined) {
    targets.push([
      "catch-up of 1 MiB records / plain server from memory",
      of(mine.read.bytesPerSecond, plain.bytesPerSecond),
      "≥ 0.6×",
    ]);
  }
  if (records !== undefined) {
    targets.push(["catch-up of 200 B records", `${fmt(records.recordsPerSecond)}/s`, "≥ 2M/s"]);
  }
  targets.push([
    "server peak RSS, every phase",
    mb(Math.max(...Object.values(mine.rss), records?.rssMax ?? 0)),
    "< 150 MB",
  ]);
  console.log(`\n${table(["tidemark", "value", "target"], targets)}`);
}

const [tide, ref] = results;
if (tide !== undefined && ref !== undefined && tide.name === "tidemark") {
  const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}×`;
  console.log(
    `\n${table(
      ["ratio tidemark / reference", "value", "target"],
      [
        ["100 B appends ×75, one stream", ratio(tide.one.perSecond, ref.one.perSecond), "≥ 30×"],
        ["100 B appends ×75, 1,000 streams", ratio(tide.many.perSecond, ref.many.perSecond), ""],
        ["1 MiB appends ×15", ratio(tide.big.perSecond, ref.big.perSecond), ""],
        ["catch-up read", ratio(tide.read.bytesPerSecond, ref.read.bytesPerSecond), ""],
      ],
    )}`,
  );
}
const file = saveResults(quick ? "http-quick" : "http", { quick, results, plain, records });
console.log(`\nresults: ${file}`);
process.exit(0);
