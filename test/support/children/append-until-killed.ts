/**
 * Appends to one stream from many concurrent appenders at durability 'always' until killed,
 * printing "ack <seq> <id>" for every acknowledged record.
 */
import { Journal } from "../../../src/index.js";
import { payloadFor } from "../payloads.js";

const [dir, tag, concurrencyArg] = process.argv.slice(2) as [string, string, string];
const journal = await Journal.open(dir, { durability: "always", segmentBytesMax: 256 * 1024 });
const stream = await journal.stream("crash");
process.stdout.write("ready\n");

async function appender(worker: number): Promise<never> {
  for (let n = 0; ; n++) {
    const ids = Array.from(
      { length: n % 5 === 4 ? 1 + (n % 7) : 1 },
      (_, k) => `${tag}.${worker}.${n}.${k}`,
    );
    if (ids.length === 1) {
      // As bytes, as a server would append a request body (large ones are written in place).
      const { seq } = await stream.append(Buffer.from(payloadFor(ids[0]!)));
      process.stdout.write(`ack ${seq} ${ids[0]}\n`);
    } else {
      const seqs = await stream.appendMany(ids.map(payloadFor));
      process.stdout.write(seqs.map((seq, i) => `ack ${seq} ${ids[i]}\n`).join(""));
    }
  }
}

await Promise.all(Array.from({ length: Number(concurrencyArg) }, (_, i) => appender(i)));
