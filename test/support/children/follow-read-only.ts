/** Opens a journal read-only and follows one stream, printing "rec <seq> <payload>" per record. */
import { Journal } from "../../../src/index.js";

const [dir, name, countArg] = process.argv.slice(2) as [string, string, string];
const journal = await Journal.open(dir, { readOnly: true, pollIntervalMs: 50 });
const stream = await journal.stream(name);
process.stdout.write("following\n");
let seen = 0;
for await (const record of stream.follow({ after: 0 })) {
  process.stdout.write(`rec ${record.seq} ${Buffer.from(record.payload).toString()}\n`);
  if (++seen === Number(countArg)) break;
}
await journal.close();
process.stdout.write("done\n");
