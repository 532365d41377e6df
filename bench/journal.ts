/**
 * `npm run bench`: the journal against its baselines, measured in the same run on this machine.
 * Prints a table of records/s and ratios, and writes the numbers to bench/results/.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Journal } from "../src/index.js";
import {
  bareWriteBatches,
  ndjsonAppendFile,
  rawWriteDatasync,
  sharedLogGroupCommit,
  sqliteFullPerRow,
  sqliteNormalBatched,
} from "./baselines.js";
import {
  fmt,
  forDuration,
  measure,
  payload,
  peakRss,
  type Result,
  saveResults,
  settle,
  table,
} from "./lib.js";

const quick = process.argv.includes("--quick");
const scale = quick ? 0.2 : 1;
const n = (count: number) => Math.max(1000, Math.round(count * scale));
const root = mkdtempSync(join(tmpdir(), "tidemark-bench-"));
const dirFor = (name: string) => mkdtempSync(join(root, `${name}-`));

/** appendMany of 1000 records at a time, with `inFlight` calls outstanding (1 = each awaited). */
async function appendManyRun(
  durability: "none" | "batch",
  records: number,
  inFlight: number,
): Promise<Result> {
  const journal = await Journal.open(dirFor(durability), { durability });
  const stream = await journal.stream("bench");
  const batch = Array.from({ length: 1000 }, (_, i) => payload(i));
  const shape = inFlight === 1 ? "each awaited" : `${inFlight} in flight`;
  const result = await measure(
    `tidemark appendMany ×1000 (${shape}), '${durability}'`,
    records,
    async () => {
      const pending = new Set<Promise<unknown>>();
      for (let i = 0; i < records; i += batch.length) {
        const append: Promise<unknown> = stream
          .appendMany(batch)
          .finally(() => pending.delete(append));
        pending.add(append);
        if (pending.size >= inFlight) await Promise.race(pending);
      }
      await Promise.all(pending);
    },
  );
  await journal.close();
  return result;
}

/** `clients` appenders, each appending to the streams in turn (one stream, or spread over many). */
async function concurrentAlways(clients: number, seconds: number, streams = 1): Promise<Result> {
  const journal = await Journal.open(dirFor(`always-${clients}-${streams}`), {
    durability: "always",
  });
  const handles = await Promise.all(
    Array.from({ length: streams }, (_, i) => journal.stream(streams === 1 ? "bench" : `s/${i}`)),
  );
  const body = payload(1);
  let next = 0;
  settle();
  const { count, seconds: elapsed } = await forDuration(seconds, clients, async () => {
    await handles[next++ % streams]!.append(body);
    return 1;
  });
  await journal.close();
  const over = streams === 1 ? "" : ` over ${streams.toLocaleString("en-US")} streams`;
  const result = {
    name: `tidemark append, 'always', ${clients} concurrent appenders${over}`,
    records: count,
    seconds: elapsed,
    perSecond: count / elapsed,
  };
  process.stderr.write(`  ${result.name}: ${fmt(result.perSecond)}/s\n`);
  return result;
}

async function oneAwaitedAlways(records: number): Promise<Result> {
  const journal = await Journal.open(dirFor("always-1"), { durability: "always" });
  const stream = await journal.stream("bench");
  const body = payload(1);
  const result = await measure(
    "tidemark append, 'always', 1 awaited appender",
    records,
    async () => {
      for (let i = 0; i < records; i++) await stream.append(body);
    },
  );
  await journal.close();
  return result;
}

async function readAll(records: number): Promise<Result> {
  const dir = dirFor("read");
  const writer = await Journal.open(dir, { durability: "none" });
  const stream = await writer.stream("bench");
  const batch = Array.from({ length: 1000 }, (_, i) => payload(i));
  for (let i = 0; i < records; i += batch.length) await stream.appendMany(batch);
  await writer.close();
  const journal = await Journal.open(dir);
  const reader = await journal.stream("bench");
  let bytes = 0;
  const result = await measure("tidemark read (for await), cold open", records, async () => {
    for await (const record of reader.read({ after: 0 })) bytes += record.payload.byteLength;
  });
  await journal.close();
  if (bytes !== records * 200) throw new Error(`read ${bytes} bytes, expected ${records * 200}`);
  return result;
}

function runChild(
  script: string,
  args: string[],
  onLine: (line: string, kill: () => void) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, "children", script), ...args],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      for (const line of chunk.trim().split("\n")) onLine(line, () => child.kill("SIGKILL"));
    });
    child.on("exit", (code, signal) =>
      code === 0 || signal === "SIGKILL"
        ? resolve()
        : reject(new Error(`${script} exited ${code}`)),
    );
  });
}

async function reopenAfterKill(streams: number, bytesPerStream: number) {
  const dir = dirFor("reopen");
  let writerPeakRss = 0;
  const fillStart = performance.now();
  await runChild(
    "fill-journal.mjs",
    [dir, String(streams), String(bytesPerStream)],
    (line, kill) => {
      if (line.startsWith("filled ")) {
        writerPeakRss = Number(line.split(" ")[1]);
        kill();
      }
    },
  );
  const fillSeconds = (performance.now() - fillStart) / 1000;
  let reopen = { ms: 0, streams: 0, scannedBytes: 0, peakRss: 0 };
  await runChild("reopen-journal.mjs", [dir], (line) => {
    const [tag, ms, count, scanned, rss] = line.split(" ");
    if (tag === "reopened")
      reopen = {
        ms: Number(ms),
        streams: Number(count),
        scannedBytes: Number(scanned),
        peakRss: Number(rss),
      };
  });
  process.stderr.write(`  reopen after SIGKILL: ${reopen.ms} ms for ${reopen.streams} streams\n`);
  rmSync(dir, { recursive: true, force: true });
  return { bytes: streams * bytesPerStream, fillSeconds, writerPeakRss, ...reopen };
}

type CaseName =
  | "ndjson"
  | "raw"
  | "bareWrite"
  | "sqliteFull"
  | "sqliteNormal"
  | "manyNone"
  | "manyBatch"
  | "manyNonePipelined"
  | "manyBatchPipelined"
  | "sharedLog256"
  | "always256"
  | "always256many"
  | "always16"
  | "always1"
  | "read";

/** Every case, baselines first. Each round runs them all, so slow spells of this shared machine
 * hit baselines and tidemark alike; the tables report medians over rounds. */
const CASES: Array<[CaseName, () => Promise<Result>]> = [
  ["ndjson", () => ndjsonAppendFile(dirFor("ndjson"), n(20_000))],
  ["raw", () => rawWriteDatasync(dirFor("raw"), n(3000))],
  ["bareWrite", () => bareWriteBatches(dirFor("bare"), n(1_000_000))],
  ["sqliteFull", () => sqliteFullPerRow(dirFor("sqlite-full"), n(3000))],
  ["sqliteNormal", () => sqliteNormalBatched(dirFor("sqlite-normal"), n(1_000_000))],
  ["manyNone", () => appendManyRun("none", n(1_000_000), 1)],
  ["manyBatch", () => appendManyRun("batch", n(1_000_000), 1)],
  ["manyNonePipelined", () => appendManyRun("none", n(1_000_000), 4)],
  ["manyBatchPipelined", () => appendManyRun("batch", n(1_000_000), 4)],
  ["sharedLog256", () => sharedLogGroupCommit(dirFor("shared"), 256, quick ? 1 : 3)],
  ["always256", () => concurrentAlways(256, quick ? 1 : 3)],
  ["always256many", () => concurrentAlways(256, quick ? 1 : 3, 1000)],
  ["always16", () => concurrentAlways(16, quick ? 1 : 3)],
  ["always1", () => oneAwaitedAlways(n(3000))],
  ["read", () => readAll(n(1_000_000))],
];

const RATIOS: Array<[string, CaseName, CaseName, string]> = [
  ["appendMany 'none' vs SQLite NORMAL batched", "manyNone", "sqliteNormal", "≥ 5×"],
  ["appendMany 'batch' vs SQLite NORMAL batched", "manyBatch", "sqliteNormal", "≥ 5×"],
  ["appendMany 'none', 4 in flight, vs SQLite NORMAL", "manyNonePipelined", "sqliteNormal", "≥ 5×"],
  [
    "appendMany 'batch', 4 in flight, vs SQLite NORMAL",
    "manyBatchPipelined",
    "sqliteNormal",
    "≥ 5×",
  ],
  ["'always' 256 appenders vs SQLite FULL per row", "always256", "sqliteFull", "≥ 30×"],
  [
    "'always' 256 appenders over 1,000 streams vs the raw shared log",
    "always256many",
    "sharedLog256",
    "≥ 0.7× (and ≥ 100k/s)",
  ],
  [
    "'always' 256 appenders, one stream, vs the raw shared log",
    "always256",
    "sharedLog256",
    "≥ 0.9×",
  ],
  ["'always' 1 appender vs raw write+fdatasync", "always1", "raw", "≥ 0.8× (within 25%)"],
  ["appendMany 'none' vs naive NDJSON appendFile", "manyNone", "ndjson", ""],
  ["appendMany 'none' vs bare write() of the same bytes", "manyNone", "bareWrite", "(ceiling)"],
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main() {
  const rounds = quick ? 1 : 3;
  process.stderr.write(`tidemark journal benchmark, ${rounds} round(s), node ${process.version}\n`);
  const runs = new Map<CaseName, Result[]>();
  for (let round = 1; round <= rounds; round++) {
    process.stderr.write(`round ${round}\n`);
    for (const [name, run] of CASES) {
      const result = await run();
      runs.set(name, [...(runs.get(name) ?? []), result]);
    }
  }
  const reopen = await reopenAfterKill(quick ? 100 : 1000, 1024 * 1024);

  const perSecond = (name: CaseName) => median(runs.get(name)!.map((r) => r.perSecond));
  const rows = CASES.map(([name]) => {
    const results = runs.get(name)!;
    const spread = results.map((r) => fmt(r.perSecond)).join(" / ");
    return [
      results[0]!.name,
      fmt(perSecond(name)),
      spread,
      results[0]!.records.toLocaleString("en-US"),
    ];
  });
  const ratios = RATIOS.map(([label, ours, theirs, target]) => {
    const perRound = runs.get(ours)!.map((r, i) => r.perSecond / runs.get(theirs)![i]!.perSecond);
    return [
      label,
      `${median(perRound).toFixed(2)}×`,
      perRound.map((x) => x.toFixed(2)).join(" / "),
      target,
    ];
  });
  const summary = [
    [
      "reopen after SIGKILL",
      `${reopen.ms.toFixed(0)} ms`,
      `${reopen.streams} streams, ${(reopen.bytes / 2 ** 30).toFixed(2)} GiB, ${(reopen.scannedBytes / 2 ** 20).toFixed(1)} MiB scanned`,
      "< 500 ms",
    ],
    [
      "peak RSS while writing",
      `${(reopen.writerPeakRss / 2 ** 20).toFixed(0)} MB`,
      `filled in ${reopen.fillSeconds.toFixed(1)} s`,
      "< 200 MB",
    ],
    ["peak RSS while reopening", `${(reopen.peakRss / 2 ** 20).toFixed(0)} MB`, "", "< 200 MB"],
  ];
  console.log(`\n${table(["benchmark", "records/s (median)", "each round", "records"], rows)}\n`);
  console.log(`${table(["ratio (same round)", "median", "each round", "target"], ratios)}\n`);
  console.log(`${table(["recovery", "measured", "detail", "target"], summary)}\n`);
  const file = saveResults("journal", {
    node: process.version,
    rounds,
    runs: Object.fromEntries(runs),
    reopen,
    benchProcessPeakRss: peakRss(),
  });
  console.log(`results: ${file}`);
}

try {
  await main();
} finally {
  rmSync(root, { recursive: true, force: true });
}
