// Opens (recovers) a journal and prints "reopened <ms> <streams> <scannedBytes> <peakRssBytes>".
import { readFileSync } from "node:fs";
import { Journal } from "../../dist/index.js";

const started = performance.now();
const journal = await Journal.open(process.argv[2]);
const ms = performance.now() - started;
const peak = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))[1]) * 1024;
process.stdout.write(
  `reopened ${ms.toFixed(1)} ${journal.list().length} ${journal.recoveryScannedBytes} ${peak}\n`,
);
await journal.close();
