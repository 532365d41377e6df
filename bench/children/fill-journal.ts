/**
 * Fills a journal with `streams` streams of `bytesPerStream` each, round robin (so that at the
 * end every stream has fresh, unchecked data), prints "filled <peakRssBytes>", then waits to be
 * killed with SIGKILL.
 */
import { Journal } from "../../src/index.js";
import { payload, peakRss } from "../lib.js";

const [dir, streamsArg, bytesArg] = process.argv.slice(2) as [string, string, string];
const streamCount = Number(streamsArg);
const recordsPerStream = Math.ceil(Number(bytesArg) / (200 + 28));
const journal = await Journal.open(dir, { durability: "none" });
const streams = await Promise.all(
  Array.from({ length: streamCount }, (_, i) => journal.stream(`tenant-${i}/session`)),
);
const batch = Array.from({ length: 100 }, (_, i) => payload(i));
for (let written = 0; written < recordsPerStream; written += batch.length) {
  await Promise.all(streams.map((stream) => stream.appendMany(batch)));
}
process.stdout.write(`filled ${peakRss()}\n`);
setInterval(() => undefined, 1000);
