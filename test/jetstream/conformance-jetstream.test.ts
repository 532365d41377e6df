/**
 * The official Durable Streams conformance suite against a tidemark server whose streams live in
 * NATS JetStream: a real nats-server (`sync_interval: always`) on loopback. The last test checks
 * the suite's streams really went to JetStream, not to the server's directory.
 */
import { runConformanceTests } from "@durable-streams/server-conformance-tests";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../../src/server/server.js";
import { type NatsServer, startNatsServer } from "../support/nats.js";
import { memoryLogger } from "../support/silent-logger.js";
import { tempDir } from "../support/tmp-dir.js";

const config = { baseUrl: "", longPollTimeoutMs: 2000, subscriptions: true };

describe("Durable Streams conformance on JetStream", () => {
  let nats: NatsServer | undefined;
  let server: RunningServer | undefined;
  beforeAll(async () => {
    nats = await startNatsServer({ syncAlways: true });
    server = await startServer({
      dir: tempDir("tidemark-conformance-js"),
      port: 0,
      longPollTimeoutMs: 2000,
      keepAliveTimeoutMs: 60_000, // see test/server/conformance.test.ts
      logger: memoryLogger(),
      nats: { servers: [nats.url] },
    });
    config.baseUrl = server.url;
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await nats?.stop();
  });
  runConformanceTests(config);

  it("kept the streams in JetStream", async () => {
    const nc = await connect({ servers: nats!.url });
    try {
      const jsm = await jetstreamManager(nc);
      const data = await jsm.streams.info("TIDEMARK_DATA");
      const meta = await jsm.streams.info("TIDEMARK_META");
      expect(data.state.messages).toBeGreaterThan(100);
      expect(meta.state.messages).toBeGreaterThan(10);
      expect(server!.journal.list().filter((name) => !name.startsWith("__"))).toEqual([]);
    } finally {
      await nc.close();
    }
  });
});
