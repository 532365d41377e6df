// Fills a journal with `streams` streams of `bytesPerStream` each, round robin (so at the end every
// stream has fresh, unchecked data; the last log files hold up to 128 MiB to redo), prints "filled <peakRssBytes>", then waits for SIGKILL.
// Plain JavaScript on the built package, so its memory is tidemark's, not a TypeScript loader's.
import { readFileSync } from "node:fs";
import { Journal } from "../../dist/index.js";

const [dir, streamsArg, bytesArg] = process.argv.slice(2);
const recordsPerStream = Math.ceil(Number(bytesArg) / (200 + 28));
const payload = (i) => {
  const head = `{"seq":${i},"type":"token","session":"s-${i % 97}","text":"`;
  return `${head}${"x".repeat(200 - head.length - 2)}"}`;
};
// The default durability: the commit log is in use, so the reopen redoes what it holds.
const journal = await Journal.open(dir);
const streams = await Promise.all(
  Array.from({ length: Number(streamsArg) }, (_, i) => journal.stream(`tenant-${i}/session`)),
);
const batch = Array.from({ length: 100 }, (_, i) => payload(i));
for (let written = 0; written < recordsPerStream; written += batch.length) {
  await Promise.all(streams.map((stream) => stream.appendMany(batch)));
}
const peak = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))[1]) * 1024;
process.stdout.write(`filled ${peak}\n`);
setInterval(() => undefined, 1000);
