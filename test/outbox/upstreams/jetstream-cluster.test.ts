/**
 * An outbox delivering to a 3-replica JetStream stream on a 3-node cluster (real processes on
 * loopback) while the stream's leader is SIGKILLed: publishes fail fast ("no responders") during
 * the election and are retried; every entry ends in the stream once, in order per key.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { JetStreamUpstream, Journal, Outbox } from "../../../src/index.js";
import { startNatsCluster } from "../../support/nats.js";
import { tempDir } from "../../support/tmp-dir.js";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

describe("JetStreamUpstream on a cluster", () => {
  it("delivers every entry once, in order per key, across a SIGKILL of the stream leader", async () => {
    const nodes = await startNatsCluster({ syncAlways: false });
    for (const node of nodes) cleanup.push(() => node.kill());
    const servers = nodes.map((n) => n.url);
    const nc = await connect({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    cleanup.push(() => nc.close());
    const jsm = await jetstreamManager(nc, { timeout: 10_000, checkAPI: false });
    // A fresh cluster elects its meta leader, and may refuse placement for a while ("no
    // suitable peers"): retried here, until it takes the stream.
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await jsm.streams.add({ name: "EDGE", subjects: ["edge.>"], num_replicas: 3 });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    const journal = await Journal.open(tempDir("js-cluster"));
    cleanup.push(() => journal.close());
    const outbox = await Outbox.open(journal, "edge", {
      upstream: new JetStreamUpstream({
        servers,
        stream: "EDGE",
        subjectPrefix: "edge",
        timeoutMs: 2_000,
      }),
      concurrency: 8,
      attemptsMax: 1_000,
      backoff: { initialMs: 20, maxMs: 500 },
    });
    cleanup.push(() => outbox.close());
    outbox.start();
    const enqueue = async (from: number, count: number) => {
      for (let n = from; n < from + count; n++) {
        await outbox.enqueue({ key: `k${n % 4}`, target: `/k${n % 4}`, body: String(n) });
      }
    };
    await enqueue(0, 150);
    const leader = (await jsm.streams.info("EDGE")).cluster?.leader;
    const victim = nodes[Number(leader?.slice(1)) - 1]!;
    await victim.kill();
    await enqueue(150, 150);
    await outbox.idle();
    expect(outbox.stats()).toMatchObject({ pending: 0, deadLetters: 0, conflicts: 0 });
    // The election (seconds) outlasted the enqueueing: publishes failed and were retried.
    expect(outbox.stats().failedAttempts).toBeGreaterThan(0);

    const info = await jsm.streams.info("EDGE");
    expect(info.cluster?.leader).not.toBe(leader);
    const bodies = new Map<string, number[]>();
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const message = await jsm.streams.getMessage("EDGE", { seq });
      if (message === null) continue;
      const list = bodies.get(message.subject) ?? [];
      list.push(Number(message.string()));
      bodies.set(message.subject, list);
    }
    const all = [...bodies.values()].flat().sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 300 }, (_, n) => n));
    for (let k = 0; k < 4; k++) {
      expect(bodies.get(`edge.k${k}`)).toEqual(Array.from({ length: 75 }, (_, i) => i * 4 + k));
    }
  }, 120_000);
});
