/**
 * Mirrors the stream "src" of a journal to the JetStream subject edge.replica (stream EDGE)
 * until killed; prints "started", and "idle" whenever the subject has every record.
 */
import { JetStreamUpstream, Journal, Mirror } from "../../../src/index.js";

const [dir, servers] = process.argv.slice(2) as [string, string];
const journal = await Journal.open(dir);
const mirror = await Mirror.open(journal, {
  stream: "src",
  upstream: new JetStreamUpstream({
    servers,
    stream: "EDGE",
    subjectPrefix: "edge",
    timeoutMs: 500,
  }),
  target: "/replica",
  backoff: { initialMs: 10, maxMs: 200 },
});
mirror.start();
process.stdout.write("started\n");
for (;;) {
  await mirror.idle();
  process.stdout.write(`idle ${JSON.stringify(mirror.stats())}\n`);
  await new Promise((resolve) => setTimeout(resolve, 200));
}
