/**
 * Retention benchmarks (part of `npm run bench`):
 * - appends to a ring-buffer stream that evicts all the time, against the same appends to a
 *   stream without limits, interleaved over rounds in the same run (target: within 15%);
 * - `read({ fromTime })` on a 10-million-record stream, cold (just reopened) and warm
 *   (target: first record in under 10 ms).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Journal } from "../src/index.js";
import { fmt, payload, saveResults, settle, table } from "./lib.js";

const quick = process.argv.includes("--quick");
const root = mkdtempSync(join(tmpdir(), "tidemark-bench-retention-"));

async function appendRun(limited: boolean, records: number): Promise<number> {
  const dir = mkdtempSync(join(root, limited ? "ring-" : "plain-"));
  const journal = await Journal.open(dir, { durability: "none" });
  const stream = await journal.stream(
    "s",
    limited ? { limits: { bytesMax: 16 * 1024 * 1024 } } : {},
  );
  const batch = Array.from({ length: 100 }, (_, i) => payload(i));
  settle();
  const started = performance.now();
  for (let i = 0; i < records; i += batch.length) await stream.appendMany(batch);
  const seconds = (performance.now() - started) / 1000;
  const { evictions } = await journal.stats();
  if (limited && evictions.segments === 0) throw new Error("the ring stream never evicted");
  await journal.close();
  rmSync(dir, { recursive: true, force: true });
  return records / seconds;
}

async function fromTime(records: number) {
  const dir = mkdtempSync(join(root, "time-"));
  let now = Date.UTC(2026, 0, 1);
  const writer = await Journal.open(dir, { durability: "none", clock: () => now });
  const stream = await writer.stream("s");
  const batch = Array.from({ length: 1000 }, (_, i) => payload(i));
  const fillStarted = performance.now();
  for (let i = 0; i < records; i += batch.length) {
    now += 1000; // one batch a second: records span `records / 1000` seconds
    await stream.appendMany(batch);
  }
  const fillSeconds = (performance.now() - fillStarted) / 1000;
  const first = Date.UTC(2026, 0, 1) + 1000;
  const span = (records / 1000) * 1000;
  await writer.close();

  const journal = await Journal.open(dir);
  const reader = await journal.stream("s");
  const query = async (at: number) => {
    const started = performance.now();
    for await (const record of reader.read({ fromTime: at, limit: 1 })) {
      if (record.timestamp < at) throw new Error("fromTime returned an older record");
    }
    return performance.now() - started;
  };
  const cold = await query(first + Math.floor(span * 0.37));
  const warm: number[] = [];
  for (let k = 1; k <= 20; k++) warm.push(await query(first + Math.floor((span * k) / 21)));
  warm.sort((a, b) => a - b);
  await journal.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    records,
    fillSeconds,
    coldMs: cold,
    warmP50Ms: warm[10]!,
    warmMaxMs: warm[warm.length - 1]!,
  };
}

async function main() {
  const rounds = quick ? 1 : 3;
  const records = quick ? 200_000 : 1_000_000;
  const ring: number[] = [];
  const plain: number[] = [];
  for (let round = 0; round < rounds; round++) {
    plain.push(await appendRun(false, records));
    ring.push(await appendRun(true, records));
  }
  const ratios = ring.map((r, i) => r / plain[i]!);
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
  const time = await fromTime(quick ? 1_000_000 : 10_000_000);
  console.log(
    `\n${table(
      ["retention benchmark", "measured", "each round", "target"],
      [
        [
          "appendMany ×100 'none', stream without limits",
          `${fmt(median(plain))}/s`,
          plain.map(fmt).join(" / "),
          "",
        ],
        [
          "appendMany ×100 'none', ring (bytesMax 16 MiB), evicting",
          `${fmt(median(ring))}/s`,
          ring.map(fmt).join(" / "),
          "",
        ],
        [
          "ring / no limits (same round)",
          `${median(ratios).toFixed(2)}×`,
          ratios.map((r) => r.toFixed(2)).join(" / "),
          "≥ 0.85×",
        ],
        [
          `read({ fromTime }) on ${fmt(time.records)} records, cold`,
          `${time.coldMs.toFixed(2)} ms`,
          "first record, just reopened",
          "< 10 ms",
        ],
        [
          `read({ fromTime }) on ${fmt(time.records)} records, warm`,
          `${time.warmP50Ms.toFixed(2)} ms`,
          `p50 of 20; max ${time.warmMaxMs.toFixed(2)} ms`,
          "< 10 ms",
        ],
      ],
    )}\n`,
  );
  const file = saveResults("retention", {
    node: process.version,
    rounds,
    records,
    plain,
    ring,
    ratios,
    time,
  });
  console.log(`results: ${file}`);
}

try {
  await main();
} finally {
  rmSync(root, { recursive: true, force: true });
}
