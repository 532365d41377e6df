/**
 * The official Durable Streams conformance suite (@durable-streams/server-conformance-tests,
 * pinned), run against a real tidemark server on a free port with a fresh journal directory.
 */
import { runConformanceTests } from "@durable-streams/server-conformance-tests";
import { afterAll, beforeAll, describe } from "vitest";
import { type RunningServer, startServer } from "../../src/server/server.js";
import { memoryLogger } from "../support/silent-logger.js";
import { tempDir } from "../support/tmp-dir.js";

const config = { baseUrl: "", longPollTimeoutMs: 2000, subscriptions: true };

describe("Durable Streams conformance", () => {
  let server: RunningServer | undefined;
  beforeAll(async () => {
    server = await startServer({
      dir: tempDir("tidemark-conformance"),
      port: 0,
      longPollTimeoutMs: 2000,
      // The suite runs in this process and some of its tests block the event loop for seconds
      // (a 100,000-step assertion loop): the server's 5 s keep-alive timer and the client's 4 s
      // one then fire together, and a request the client just put on the closing socket fails
      // with ECONNRESET. A longer server keep-alive keeps the client the one that closes.
      keepAliveTimeoutMs: 60_000,
      logger: memoryLogger(),
    });
    config.baseUrl = server.url;
  });
  afterAll(async () => {
    await server?.stop();
  });
  runConformanceTests(config);
});
