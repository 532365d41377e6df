/**
 * `npm run bench:jetstream-edge`: what the outbox's JetStreamUpstream and a Mirror into
 * JetStream reach next to raw JetStream from one Node process (the ceiling), in the same run,
 * against one nats-server with `jetstream { sync_interval: always }` (an fsync per message).
 *
 *   raw publish, 1 awaited        js.publish with a unique Nats-Msg-Id, one at a time
 *   raw publish, 1,000 in flight  the same, 1,000 outstanding
 *   raw consume                   an ordered consumer replaying the stream from seq 1
 *   outbox, concurrency 1         entries enqueued beforehand, delivered one at a time
 *   outbox, concurrency 64        the same, 64 keys in flight
 *   mirror                        records appended beforehand, mirrored (one in flight, by design)
 *
 * Cases alternate over rounds (order reversed every other round); medians are reported with
 * the ratios outbox c1 / raw 1, outbox c64 / raw in flight, mirror / raw 1. 200-byte payloads.
 * The edge journal (durability 'always') shares the disk with nats-server: its fsyncs are part
 * of what the outbox and the mirror cost.
 *
 * Flags: --quick (fewer messages, 2 rounds). Needs scripts/nats-server.sh (fetches 2.15.1).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { JetStreamUpstream, Journal, Mirror, Outbox } from "../src/index.js";
import { fmt, freePort, payload, saveResults, settle, table } from "./lib.js";

const quick = process.argv.includes("--quick");
const ROUNDS = quick ? 2 : 3;
const SINGLE = quick ? 1_000 : 3_000;
const MANY = quick ? 5_000 : 20_000;
const IN_FLIGHT = 1_000;
const root = mkdtempSync(join(tmpdir(), "tidemark-bench-js-edge-"));

async function startNats(): Promise<{ url: string; child: ChildProcess }> {
  const binary = execFileSync("bash", ["scripts/nats-server.sh"], { encoding: "utf8" }).trim();
  const port = await freePort();
  const store = join(root, "nats");
  mkdirSync(store, { recursive: true });
  const config = join(root, "nats.conf");
  writeFileSync(
    config,
    `listen: 127.0.0.1:${port}\njetstream {\n  store_dir: "${store}"\n  sync_interval: always\n}\n`,
  );
  const log = join(root, "nats.log");
  const child = spawn("sh", ["-c", `exec "${binary}" -c "${config}" >"${log}" 2>&1`]);
  const deadline = Date.now() + 30_000;
  for (;;) {
    let text = "";
    try {
      text = readFileSync(log, "utf8");
    } catch {}
    if (text.includes("Server is ready")) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      throw new Error(`nats-server did not start: ${text.slice(-1000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { url: `nats://127.0.0.1:${port}`, child };
}

const nats = await startNats();
const nc = await connect({ servers: nats.url });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
await jsm.streams.add({ name: "EDGE", subjects: ["edge.>"] });
const body = new TextEncoder().encode(payload(0));
let run = 0;

async function timed(count: number, work: () => Promise<void>): Promise<number> {
  settle();
  const started = performance.now();
  await work();
  return count / ((performance.now() - started) / 1000);
}

/** `count` publishes to a fresh subject, `window` outstanding at a time. */
function rawPublish(count: number, window: number): Promise<number> {
  const subject = `edge.raw.${run++}`;
  let next = 0;
  return timed(count, async () => {
    await Promise.all(
      Array.from({ length: Math.min(window, count) }, async () => {
        while (next < count) {
          const n = next++;
          await js.publish(subject, body, { msgID: `raw:${subject}:${n}` });
        }
      }),
    );
  });
}

/** An ordered consumer reading the whole stream from seq 1. */
async function rawConsume(): Promise<number> {
  const total = (await jsm.streams.info("EDGE")).state.messages;
  const consumer = await js.consumers.get("EDGE", { deliver_policy: DeliverPolicy.All });
  return timed(total, async () => {
    const messages = await consumer.consume({ max_messages: 5_000 });
    let seen = 0;
    for await (const _ of messages) {
      if (++seen >= total) break;
    }
    await messages.close();
  });
}

async function outboxRun(count: number, concurrency: number): Promise<number> {
  const dir = mkdtempSync(join(root, "outbox-"));
  const journal = await Journal.open(dir, { durability: "always" });
  const prefix = `edge.outbox.${run++}`;
  const outbox = await Outbox.open(journal, "bench", {
    upstream: new JetStreamUpstream({ servers: nats.url, stream: "EDGE", subjectPrefix: prefix }),
    concurrency,
  });
  const writes: Promise<string>[] = [];
  for (let n = 0; n < count; n++) {
    writes.push(outbox.enqueue({ key: `k${n % 64}`, target: `/k${n % 64}`, body: payload(n) }));
    if (writes.length >= 1000) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
  const rate = await timed(count, async () => {
    outbox.start();
    await outbox.idle();
  });
  if (outbox.stats().delivered !== count) throw new Error("not everything was delivered");
  await journal.close();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

async function mirrorRun(count: number): Promise<number> {
  const dir = mkdtempSync(join(root, "mirror-"));
  const journal = await Journal.open(dir, { durability: "always" });
  const src = await journal.stream("src");
  for (let n = 0; n < count; n += 1000) {
    await src.appendMany(
      Array.from({ length: Math.min(1000, count - n) }, (_, i) => payload(n + i)),
    );
  }
  const mirror = await Mirror.open(journal, {
    stream: "src",
    upstream: new JetStreamUpstream({ servers: nats.url, stream: "EDGE", subjectPrefix: "edge" }),
    target: `/mirror/${run++}`,
  });
  const rate = await timed(count, async () => {
    mirror.start();
    await mirror.idle();
  });
  if (mirror.stats().position !== count) throw new Error("the mirror did not copy everything");
  await journal.close();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

const cases: Array<[string, () => Promise<number>]> = [
  ["raw publish, 1 awaited", () => rawPublish(SINGLE, 1)],
  [`raw publish, ${IN_FLIGHT} in flight`, () => rawPublish(MANY, IN_FLIGHT)],
  ["outbox → JetStreamUpstream, concurrency 1", () => outboxRun(SINGLE, 1)],
  ["outbox → JetStreamUpstream, concurrency 64", () => outboxRun(MANY, 64)],
  ["mirror → JetStream", () => mirrorRun(SINGLE)],
  ["raw consume (ordered, from seq 1)", () => rawConsume()],
];
const rates = new Map<string, number[]>(cases.map(([name]) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? cases : [...cases].reverse();
  for (const [name, fn] of order) {
    const rate = await fn();
    rates.get(name)!.push(rate);
    process.stderr.write(`  round ${round + 1} ${name}: ${fmt(rate)}/s\n`);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
const medians = new Map([...rates].map(([name, values]) => [name, median(values)]));
const m = (i: number) => medians.get(cases[i]![0])!;
const ceilings: Record<number, number> = { 2: 0, 3: 1, 4: 0 };
process.stdout.write(
  `\nJetStream at the edge: one nats-server (sync_interval: always), ${ROUNDS} rounds, 200-byte messages, medians\n\n`,
);
process.stdout.write(
  `${table(
    ["case", "msg/s", "rounds", "vs raw"],
    cases.map(([name], i) => [
      name,
      fmt(m(i)),
      rates
        .get(name)!
        .map((r) => fmt(r))
        .join(" / "),
      i in ceilings ? `${(m(i) / m(ceilings[i]!)).toFixed(2)} of "${cases[ceilings[i]!]![0]}"` : "",
    ]),
  )}\n`,
);
const file = saveResults(quick ? "jetstream-edge-quick" : "jetstream-edge", {
  rounds: Object.fromEntries(rates),
});
process.stdout.write(`\nresults: ${file}\n`);
await nc.close();
nats.child.kill("SIGKILL");
rmSync(root, { recursive: true, force: true });
