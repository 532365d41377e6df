/** Acknowledges records of a stream as a consumer, printing "acked <seq>" after each, until killed. */
import { Journal } from "../../../src/index.js";

const [dir] = process.argv.slice(2) as [string];
const journal = await Journal.open(dir, { durability: "always" });
const stream = await journal.stream("work");
const consumer = stream.consumer("worker");
process.stdout.write(`ready ${consumer.position}\n`);
for (let seq = consumer.position + 1; seq <= stream.info().lastSeq; seq++) {
  const position = await consumer.ack(seq);
  process.stdout.write(`acked ${position}\n`);
}
process.stdout.write("done\n");
await journal.close();
