/**
 * Mirrors the stream "src" of a journal to a remote Durable Streams server until killed; prints
 * "started", and "idle" whenever the remote has every record.
 */
import { DurableStreamsUpstream, Journal, Mirror } from "../../../src/index.js";

const [dir, baseUrl] = process.argv.slice(2) as [string, string];
const journal = await Journal.open(dir);
const mirror = await Mirror.open(journal, {
  stream: "src",
  upstream: new DurableStreamsUpstream({
    baseUrl,
    timeoutMs: 500,
    createContentType: "application/json",
  }),
  target: "/v1/stream/replica",
  contentType: "application/json",
  backoff: { initialMs: 10, maxMs: 200 },
});
mirror.start();
process.stdout.write("started\n");
for (;;) {
  await mirror.idle();
  process.stdout.write(`idle ${JSON.stringify(mirror.stats())}\n`);
  await new Promise((resolve) => setTimeout(resolve, 200));
}
