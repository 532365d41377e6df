/**
 * `npm run bench:cli`: `tidemark export` and `tidemark import` of 1M 200-byte records, against
 * their baselines in the same run: `cat` of the same archive bytes (the ceiling: a raw copy) and
 * the library's `appendMany` (1000 records per call, each awaited, durability 'none') filling
 * the same stream. Export writes an archive to /dev/null; import restores that archive into an
 * empty journal (synced, as the command does). Each is measured as the command a user runs (a
 * process, startup included: `node dist/cli/main.js`) and as the work inside it (the same code
 * called in this process). Three rounds, medians; results in bench/results/cli-*.json.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportStreams } from "../src/cli/export.js";
import { importInto } from "../src/cli/import.js";
import { Journal } from "../src/index.js";
import { fmt, payload, saveResults, settle, table } from "./lib.js";

const quick = process.argv.includes("--quick");
const RECORDS = quick ? 200_000 : 1_000_000;
const BATCH = 1000;
const root = mkdtempSync(join(tmpdir(), "tidemark-bench-cli-"));
const CLI = join(process.cwd(), "dist", "cli", "main.js");

interface Round {
  appendMany: number;
  exportWork: number;
  exportCommand: number;
  importWork: number;
  importCommand: number;
  cat: number;
  archiveBytes: number;
}

/** Seconds a command takes, as a child process; fails loudly if it fails. */
function timeCommand(command: string, args: string[]): number {
  settle();
  const started = performance.now();
  const run = spawnSync(command, args, { stdio: ["ignore", "ignore", "pipe"], maxBuffer: 1 << 20 });
  const seconds = (performance.now() - started) / 1000;
  if (run.status !== 0) throw new Error(`${command} ${args.join(" ")} failed: ${run.stderr}`);
  return seconds;
}

async function round(index: number): Promise<Round> {
  const dir = mkdtempSync(join(root, `round-${index}-`));
  const source = join(dir, "source");
  // The library's appendMany, filling the stream the export reads (the import baseline).
  const journal = await Journal.open(source, { durability: "none" });
  const stream = await journal.stream("events");
  const batches = Array.from({ length: RECORDS / BATCH }, (_, b) =>
    Array.from({ length: BATCH }, (_, i) => payload(b * BATCH + i)),
  );
  settle();
  let started = performance.now();
  for (const batch of batches) await stream.appendMany(batch);
  const appendMany = RECORDS / ((performance.now() - started) / 1000);
  await journal.close();

  const archive = join(dir, "events.tmar");
  settle();
  started = performance.now();
  await exportStreams({
    dir: source,
    streams: ["events"],
    all: false,
    format: "archive",
    output: "/dev/null",
    quiet: true,
  });
  const exportWork = RECORDS / ((performance.now() - started) / 1000);
  const exportCommand =
    RECORDS /
    timeCommand(process.execPath, [
      CLI,
      "export",
      "events",
      "--dir",
      source,
      "-o",
      "/dev/null",
      "--quiet",
    ]);
  timeCommand(process.execPath, [
    CLI,
    "export",
    "events",
    "--dir",
    source,
    "-o",
    archive,
    "--quiet",
  ]);
  const archiveBytes = statSync(archive).size;
  const cat = RECORDS / timeCommand("sh", ["-c", `cat '${archive}' > /dev/null`]);

  settle();
  started = performance.now();
  const report = await importInto({
    dir: join(dir, "imported-work"),
    source: archive,
    append: false,
    quiet: true,
  });
  const importWork = RECORDS / ((performance.now() - started) / 1000);
  if (report.streams[0]?.records !== RECORDS)
    throw new Error("the import did not restore every record");
  const importCommand =
    RECORDS /
    timeCommand(process.execPath, [
      CLI,
      "import",
      archive,
      "--dir",
      join(dir, "imported-command"),
      "--quiet",
    ]);
  rmSync(dir, { recursive: true, force: true });
  return { appendMany, exportWork, exportCommand, importWork, importCommand, cat, archiveBytes };
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const rounds = quick ? 1 : 3;
  process.stderr.write(
    `tidemark CLI benchmark: ${RECORDS} records of 200 bytes, ${rounds} round(s), node ${process.version}\n`,
  );
  const results: Round[] = [];
  for (let i = 1; i <= rounds; i++) {
    results.push(await round(i));
    process.stderr.write(
      `  round ${i}: ${JSON.stringify(results[i - 1], (_, v) => (typeof v === "number" ? Math.round(v) : v))}\n`,
    );
  }
  const column = (key: keyof Round) => results.map((r) => r[key]);
  const row = (name: string, key: keyof Round) => [
    name,
    fmt(median(column(key))),
    column(key).map(fmt).join(" / "),
  ];
  const ratio = (name: string, a: keyof Round, b: keyof Round, target: string) => {
    const each = results.map((r) => r[a] / r[b]);
    return [name, `${median(each).toFixed(2)}×`, each.map((x) => x.toFixed(2)).join(" / "), target];
  };
  console.log(
    `\n${table(
      ["case", "records/s (median)", "each round"],
      [
        row("`cat` of the archive to /dev/null (the ceiling)", "cat"),
        row("library `appendMany` ×1000, `'none'` (the import baseline)", "appendMany"),
        row("`tidemark export` to /dev/null: the work", "exportWork"),
        row("`tidemark export` to /dev/null: the command (startup included)", "exportCommand"),
        row("`tidemark import` of the archive: the work", "importWork"),
        row("`tidemark import` of the archive: the command (startup included)", "importCommand"),
      ],
    )}\n`,
  );
  console.log(
    `${table(
      ["ratio (same round)", "median", "each round", "target"],
      [
        ratio("export work / cat", "exportWork", "cat", "(ceiling)"),
        ratio("import work / appendMany", "importWork", "appendMany", "≥ 0.5×"),
        ratio("import command / appendMany", "importCommand", "appendMany", "≥ 0.5×"),
        ratio("import work / cat", "importWork", "cat", "(ceiling)"),
      ],
    )}\n`,
  );
  const exportMet = median(column("exportCommand")) >= 1e6 ? "met" : "NOT met";
  console.log(
    `export ≥ 1M records/s (the command, startup included): ${exportMet}; archive ${results[0]!.archiveBytes} bytes`,
  );
  const file = saveResults("cli", { records: RECORDS, rounds: results, node: process.version });
  console.log(`results: ${file}`);
  rmSync(root, { recursive: true, force: true });
}

await main();
