/**
 * `npm run bench:outbox`: what the outbox costs on top of the upstream, and how fast it empties
 * after the upstream comes back. The upstream is a local HTTP server (its own process) that
 * accepts everything at once.
 *
 * 1. The upstream's own rate: the same requests (POST, 200-byte body, Idempotency-Key), at the
 *    same concurrency, sent by undici alone. Then the outbox delivering the same number of
 *    entries, enqueued beforehand, at durability 'always'. Alternated over rounds; the ratio is
 *    the outbox's rate over the upstream's (target: ≥ 0.8, "costs under 20%").
 * 2. Recovery: 100,000 entries enqueued while the upstream is down (nothing listens), the outbox
 *    probing it; then the upstream starts, and the time until the outbox is empty is measured.
 *
 * Flags: --quick (fewer entries).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool } from "undici";
import { HttpUpstream, Journal, Outbox } from "../src/index.js";
import { fmt, freePort, payload, saveResults, settle, table } from "./lib.js";

const quick = process.argv.includes("--quick");
const ENTRIES = quick ? 5_000 : 20_000;
const ROUNDS = quick ? 2 : 3;
const RECOVERY_ENTRIES = quick ? 20_000 : 100_000;
const CONCURRENCY = 8;
const root = mkdtempSync(join(tmpdir(), "tidemark-bench-outbox-"));

async function startUpstream(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["bench/children/accept-all.mjs", String(port)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve) => child.stdout!.once("data", () => resolve()));
  return child;
}

async function stopUpstream(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

/** The upstream alone: ENTRIES requests at CONCURRENCY, as the outbox would send them. */
async function upstreamAlone(url: string): Promise<number> {
  const pool = new Pool(url, { connections: CONCURRENCY });
  const body = Buffer.from(payload(0));
  let next = 0;
  settle();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < ENTRIES) {
        const n = next++;
        const response = await pool.request({
          method: "POST",
          path: "/events",
          headers: {
            "content-type": "application/octet-stream",
            "idempotency-key": `bench:${n}`,
          },
          body,
        });
        await response.body.dump();
        if (response.statusCode !== 204)
          throw new Error(`upstream answered ${response.statusCode}`);
      }
    }),
  );
  const rate = ENTRIES / ((performance.now() - started) / 1000);
  await pool.close();
  return rate;
}

/** The outbox delivering ENTRIES entries enqueued beforehand. */
async function outboxRun(url: string): Promise<number> {
  const dir = mkdtempSync(join(root, "outbox-"));
  const journal = await Journal.open(dir);
  const outbox = await Outbox.open(journal, "bench", {
    upstream: new HttpUpstream({ baseUrl: url, connections: CONCURRENCY }),
    concurrency: CONCURRENCY,
  });
  const writes: Promise<string>[] = [];
  for (let n = 0; n < ENTRIES; n++) {
    writes.push(outbox.enqueue({ target: "/events", body: payload(n) }));
    if (writes.length >= 1000) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
  settle();
  const started = performance.now();
  outbox.start();
  await outbox.idle();
  const rate = ENTRIES / ((performance.now() - started) / 1000);
  if (outbox.stats().delivered !== ENTRIES) throw new Error("not everything was delivered");
  await journal.close();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

async function recovery(port: number) {
  const dir = mkdtempSync(join(root, "recovery-"));
  const journal = await Journal.open(dir);
  const url = `http://127.0.0.1:${port}`;
  const outbox = await Outbox.open(journal, "bench", {
    upstream: new HttpUpstream({ baseUrl: url, connections: CONCURRENCY }),
    concurrency: CONCURRENCY,
    backoff: { initialMs: 200, maxMs: 2000 },
  });
  outbox.start(); // the upstream is down: nothing listens on the port
  const enqueueStarted = performance.now();
  const writes: Promise<string>[] = [];
  for (let n = 0; n < RECOVERY_ENTRIES; n++) {
    writes.push(outbox.enqueue({ target: "/events", body: payload(n) }));
    if (writes.length >= 1000) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
  const enqueueSeconds = (performance.now() - enqueueStarted) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 3000)); // down for a while
  const down = outbox.stats();
  if (!down.upstreamDown) throw new Error("the outbox did not notice the upstream was down");
  const upstream = await startUpstream(port);
  const back = performance.now();
  await outbox.idle();
  const seconds = (performance.now() - back) / 1000;
  const stats = outbox.stats();
  await stopUpstream(upstream);
  await journal.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    entries: RECOVERY_ENTRIES,
    enqueuePerSecond: RECOVERY_ENTRIES / enqueueSeconds,
    attemptsWhileDown: down.attempts,
    secondsToEmpty: seconds,
    delivered: stats.delivered,
  };
}

const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const upstream = await startUpstream(port);
const rounds: Array<{ alone: number; outbox: number }> = [];
for (let round = 0; round < ROUNDS; round++) {
  const alone = await upstreamAlone(url);
  const viaOutbox = await outboxRun(url);
  rounds.push({ alone, outbox: viaOutbox });
  process.stderr.write(
    `  round ${round + 1}: upstream alone ${fmt(alone)}/s, outbox ${fmt(viaOutbox)}/s\n`,
  );
}
await stopUpstream(upstream);
const recovered = await recovery(port);
rmSync(root, { recursive: true, force: true });

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const ratios = rounds.map((r) => r.outbox / r.alone);
console.log(
  table(
    ["case", "median", "each round"],
    [
      [
        `upstream alone: ${ENTRIES} POSTs, concurrency ${CONCURRENCY}`,
        `${fmt(median(rounds.map((r) => r.alone)))}/s`,
        rounds.map((r) => fmt(r.alone)).join(" / "),
      ],
      [
        `outbox: ${ENTRIES} entries, concurrency ${CONCURRENCY}, 'always'`,
        `${fmt(median(rounds.map((r) => r.outbox)))}/s`,
        rounds.map((r) => fmt(r.outbox)).join(" / "),
      ],
      [
        "outbox / upstream alone (target ≥ 0.8)",
        `${median(ratios).toFixed(2)}`,
        ratios.map((r) => r.toFixed(2)).join(" / "),
      ],
      [
        `recovery: ${recovered.entries} entries pending, upstream back → empty`,
        `${recovered.secondsToEmpty.toFixed(1)} s`,
        `${fmt(recovered.entries / recovered.secondsToEmpty)}/s; ${recovered.attemptsWhileDown} attempts in 3 s down; enqueue ${fmt(recovered.enqueuePerSecond)}/s`,
      ],
    ],
  ),
);
const file = saveResults(quick ? "outbox-quick" : "outbox", { rounds, recovered });
console.log(`\nresults: ${file}`);
process.exit(0);
