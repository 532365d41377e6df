// Fills stream "records" of a journal with `count` records of 200 bytes (appendMany of 1,000),
// durably, then exits: the journal `tidemark serve` then reads for the 200-byte catch-up case.
import { Journal } from "../../dist/index.js";

const [dir, countArg] = process.argv.slice(2);
const count = Number(countArg);
const journal = await Journal.open(dir);
const stream = await journal.stream("records");
const batch = Array.from(
  { length: 1000 },
  (_, i) => `${String(i).padStart(6, "0")}${"r".repeat(194)}`,
);
for (let written = 0; written < count; written += batch.length) await stream.appendMany(batch);
await journal.close();
process.stdout.write(`filled ${count}\n`);
