/**
 * Opens a journal's outbox "sync" and delivers to an HTTP upstream until killed; prints
 * "started", and "idle" each time nothing is left to deliver.
 */
import { HttpUpstream, Journal, Outbox } from "../../../src/index.js";

const [dir, baseUrl] = process.argv.slice(2) as [string, string];
const journal = await Journal.open(dir);
const outbox = await Outbox.open(journal, "sync", {
  upstream: new HttpUpstream({ baseUrl, timeoutMs: 300 }),
  concurrency: 3,
  attemptsMax: 1000,
  backoff: { initialMs: 10, maxMs: 200 },
});
outbox.start();
process.stdout.write("started\n");
for (;;) {
  await outbox.idle();
  process.stdout.write(`idle ${JSON.stringify(outbox.stats())}\n`);
  await new Promise((resolve) => setTimeout(resolve, 200));
}
