/**
 * The official conformance suite against two `tidemark serve --nats` processes sharing one
 * nats-server (`sync_interval: always`), with requests alternated between them by a
 * round-robin proxy: every request goes to the other process than the one before, so each
 * create, append, read, long-poll and SSE of the suite crosses processes.
 * Subscriptions included: a subscription made through one process is woken, claimed,
 * acknowledged and fenced through the other (shared records, docs/jetstream.md).
 */
import { runConformanceTests } from "@durable-streams/server-conformance-tests";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNatsServer } from "../support/nats.js";
import { type RoundRobinProxy, startRoundRobinProxy } from "../support/round-robin-proxy.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import { tempDir } from "../support/tmp-dir.js";

const config = { baseUrl: "", longPollTimeoutMs: 2000, subscriptions: true };

describe("Durable Streams conformance on two JetStream-backed processes", () => {
  let nats: NatsServer | undefined;
  const servers: ServerProcess[] = [];
  let proxy: RoundRobinProxy | undefined;
  beforeAll(async () => {
    nats = await startNatsServer({ syncAlways: true });
    // The proxy first: both processes are told its URL as theirs (webhook callback URLs).
    const backends = ["", ""];
    proxy = await startRoundRobinProxy(backends);
    for (let i = 0; i < 2; i++) {
      servers.push(
        await startServerProcess(tempDir(`tidemark-two-${i}`), [
          "--nats",
          nats.url,
          "--long-poll-timeout-ms",
          "2000",
          "--public-url",
          proxy.url,
        ]),
      );
      backends[i] = servers[i]!.url;
    }
    config.baseUrl = proxy.url;
  }, 120_000);
  afterAll(async () => {
    // What the processes warned of (the one-replica warning aside), to read when a test failed.
    for (const server of servers) {
      const warnings = server.child.lines.filter(
        (line) => /"level":(40|50)/.test(line) && !line.includes("one replica"),
      );
      if (warnings.length > 0) console.log(warnings.join("\n"));
    }
    await proxy?.close();
    for (const server of servers) {
      server.child.process.kill("SIGTERM");
      await server.child.exited;
    }
    await nats?.stop();
  });
  runConformanceTests(config);

  it("sent the suite's requests to both processes", () => {
    expect(proxy!.counts[0]).toBeGreaterThan(500);
    expect(proxy!.counts[1]).toBeGreaterThan(500);
  });
});
