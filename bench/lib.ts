/** Small helpers shared by the benchmarks: timing, memory, tables, results files. */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

export const PAYLOAD_BYTES = 200;

/** A 200-byte event, different for each i, as an agent runtime might log it. */
export function payload(i: number): string {
  const head = `{"seq":${i},"type":"token","session":"s-${i % 97}","text":"`;
  return head + "x".repeat(PAYLOAD_BYTES - head.length - 2) + '"}';
}

export interface Result {
  name: string;
  records: number;
  seconds: number;
  perSecond: number;
  note?: string;
}

/**
 * Writes back all dirty pages (the `sync` command) before a measurement, so each case starts with
 * the same page-cache state: otherwise a case that runs after others pays for their writeback
 * (measured here: 1.6M records/s on a clean cache, 0.8M once dirty pages pile up).
 */
export function settle(): void {
  spawnSync("sync");
}

export async function measure(
  name: string,
  records: number,
  run: () => Promise<void>,
  note?: string,
): Promise<Result> {
  settle();
  const start = process.hrtime.bigint();
  await run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const result: Result = { name, records, seconds, perSecond: records / seconds };
  if (note !== undefined) result.note = note;
  process.stderr.write(`  ${name}: ${fmt(result.perSecond)}/s\n`);
  return result;
}

/** Runs `worker` copies of `step` until `seconds` pass; returns how many steps completed. */
export async function forDuration(
  seconds: number,
  workers: number,
  step: () => Promise<number>,
): Promise<{ count: number; seconds: number }> {
  const deadline = performance.now() + seconds * 1000;
  let count = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < deadline) {
        const done = await step(); // not `count += await step()`: that reads count before awaiting
        count += done;
      }
    }),
  );
  return { count, seconds: (performance.now() - start) / 1000 };
}

/** Peak resident set size of a process so far, in bytes (Linux). */
export function peakRss(pid: number | "self" = "self"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

export function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return value.toFixed(value < 10 ? 2 : 0);
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [
    line(headers),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...rows.map(line),
  ].join("\n");
}

export function saveResults(name: string, data: unknown): string {
  const dir = join(process.cwd(), "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

/** A TCP port free on loopback right now (for a server that must keep its port across restarts). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
