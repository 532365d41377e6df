/**
 * Faults with real processes on loopback, checked by counts and contents, never by timing:
 * idempotent producers that retry every failed append against tidemark on JetStream, while
 *
 * - the one `sync_interval: always` nats-server is SIGKILLed and restarted;
 * - the stream leader of three clustered nats-servers (replicas 3) is SIGKILLed;
 * - one of two `tidemark serve --nats` processes is SIGKILLed (the producers go on through the
 *   other).
 *
 * In each, every acknowledged append is in the stream exactly once, in each producer's order.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../../src/server/server.js";
import { startNatsCluster, startNatsServer } from "../support/nats.js";
import { checkExactlyOnce, runRetryingProducers } from "../support/retrying-producers.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import { memoryLogger } from "../support/silent-logger.js";
import { tempDir } from "../support/tmp-dir.js";

const PRODUCERS = 4;
const MESSAGES = 150;

async function createJsonStream(url: string, path: string): Promise<void> {
  const response = await fetch(`${url}/v1/stream/${path}`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
  });
  expect(response.status).toBe(201);
}

/** Resolves once `count` appends are acknowledged (the moment to inject a fault). */
function acknowledgedAfter(count: number): {
  reached: Promise<void>;
  onAck: (total: number) => void;
} {
  let resolve: () => void = () => undefined;
  const reached = new Promise<void>((r) => {
    resolve = r;
  });
  return { reached, onAck: (total) => total >= count && resolve() };
}

describe("faults under JetStream", () => {
  const servers: RunningServer[] = [];
  const processes: ServerProcess[] = [];
  afterAll(async () => {
    for (const server of servers) await server.stop().catch(() => undefined);
    for (const child of processes) child.child.process.kill("SIGKILL");
  });

  it("loses and duplicates nothing when the single nats-server is SIGKILLed and restarted", async () => {
    const nats = await startNatsServer({ syncAlways: true });
    const server = await startServer({
      dir: tempDir("tidemark-fault-single"),
      port: 0,
      logger: memoryLogger(),
      nats: { servers: [nats.url], patienceMs: 1000 },
    });
    servers.push(server);
    await createJsonStream(server.url, "orders");
    const fault = acknowledgedAfter(150);
    const producing = runRetryingProducers({
      urls: () => [server.url],
      path: "orders",
      producers: PRODUCERS,
      messages: MESSAGES,
      onAck: fault.onAck,
    });
    await fault.reached;
    await nats.kill();
    await new Promise((resolve) => setTimeout(resolve, 300)); // producers meet the outage
    await nats.restart();
    const run = await producing;
    console.log(`single nats-server SIGKILL: ${JSON.stringify(run)}`);
    expect(run.acknowledged).toBe(PRODUCERS * MESSAGES);
    expect(run.retries).toBeGreaterThan(0); // the fault was felt
    const held = await checkExactlyOnce(server.url, "orders", PRODUCERS, MESSAGES);
    expect(held.problems).toEqual([]);
    expect(held.total).toBe(PRODUCERS * MESSAGES);
  }, 180_000);

  it("goes on after the leader of a 3-node cluster (replicas 3) is SIGKILLed, losing nothing", async () => {
    const cluster = await startNatsCluster();
    const server = await startServer({
      dir: tempDir("tidemark-fault-cluster"),
      port: 0,
      logger: memoryLogger(),
      nats: { servers: cluster.map((node) => node.url), replicas: 3, patienceMs: 2000 },
    });
    servers.push(server);
    await createJsonStream(server.url, "orders");
    const fault = acknowledgedAfter(150);
    const producing = runRetryingProducers({
      urls: () => [server.url],
      path: "orders",
      producers: PRODUCERS,
      messages: MESSAGES,
      onAck: fault.onAck,
      patienceMs: 90_000,
    });
    await fault.reached;
    // The data stream's leader: the node whose loss stops appends until a new one is elected.
    const nc = await connect({ servers: cluster.map((node) => node.url) });
    const info = await (await jetstreamManager(nc)).streams.info("TIDEMARK_DATA");
    await nc.close();
    const leader = Number(/^n(\d)$/.exec(info.cluster?.leader ?? "")?.[1] ?? "1") - 1;
    await cluster[leader]!.kill();
    const run = await producing;
    console.log(`cluster node SIGKILL: ${JSON.stringify(run)}`);
    expect(run.acknowledged).toBe(PRODUCERS * MESSAGES);
    const held = await checkExactlyOnce(server.url, "orders", PRODUCERS, MESSAGES);
    expect(held.problems).toEqual([]);
    expect(held.total).toBe(PRODUCERS * MESSAGES);
  }, 240_000);

  it("keeps serving through the other process when one of two tidemark processes is SIGKILLed", async () => {
    const nats = await startNatsServer({ syncAlways: true });
    for (let i = 0; i < 2; i++) {
      processes.push(
        await startServerProcess(tempDir(`tidemark-fault-two-${i}`), ["--nats", nats.url]),
      );
    }
    const [first, second] = processes.slice(-2) as [ServerProcess, ServerProcess];
    await createJsonStream(first.url, "orders");
    let alive = [first.url, second.url];
    const fault = acknowledgedAfter(150);
    const producing = runRetryingProducers({
      urls: () => alive,
      path: "orders",
      producers: PRODUCERS,
      messages: MESSAGES,
      onAck: fault.onAck,
    });
    await fault.reached;
    first.child.process.kill("SIGKILL");
    await first.child.exited;
    // The producers keep sending to both for a while: failed sends are retried elsewhere.
    await new Promise((resolve) => setTimeout(resolve, 200));
    alive = [second.url];
    const run = await producing;
    console.log(`tidemark process SIGKILL: ${JSON.stringify(run)}`);
    expect(run.acknowledged).toBe(PRODUCERS * MESSAGES);
    expect(run.retries).toBeGreaterThan(0);
    const held = await checkExactlyOnce(second.url, "orders", PRODUCERS, MESSAGES);
    expect(held.problems).toEqual([]);
    expect(held.total).toBe(PRODUCERS * MESSAGES);
  }, 180_000);
});
