/** Opens a journal (recovering it), prints "reopened <ms> <streams> <scannedBytes> <peakRssBytes>". */
import { Journal } from "../../src/index.js";
import { peakRss } from "../lib.js";

const started = performance.now();
const journal = await Journal.open(process.argv[2]!);
const ms = performance.now() - started;
const streams = journal.list().length;
process.stdout.write(
  `reopened ${ms.toFixed(1)} ${streams} ${journal.recoveryScannedBytes} ${peakRss()}\n`,
);
await journal.close();
