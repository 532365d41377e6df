// The reference Durable Streams server (@durable-streams/server), file-backed, for bench/http.ts.
// Prints "listening <url>" once it accepts requests; SIGTERM stops it.
import { DurableStreamTestServer } from "@durable-streams/server";

const server = new DurableStreamTestServer({
  port: 0,
  host: "127.0.0.1",
  dataDir: process.argv[2],
  longPollTimeout: 5000,
  compression: false,
});
const url = await server.start();
process.stdout.write(`listening ${url}\n`);
process.on("SIGTERM", () => {
  server.stop().then(() => process.exit(0));
});
