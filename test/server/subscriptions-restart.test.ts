/**
 * A server's subscriptions on its own journal (local-subscription-book.ts) across a restart:
 * configuration, links, acknowledged offsets and the wake generation are kept (subscription
 * log); a wake in progress is not, so pending work wakes again one generation up, and the
 * previous wake's token is fenced. Also: many claims racing through one process have one winner.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../../src/server/server.js";
import { memoryLogger } from "../support/silent-logger.js";
import { tempDir } from "../support/tmp-dir.js";

const running: RunningServer[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) await server.stop();
});

async function start(dir: string): Promise<RunningServer> {
  const server = await startServer({ dir, port: 0, logger: memoryLogger() });
  running.push(server);
  return server;
}

interface Claim {
  wake_id: string;
  generation: number;
  token: string;
  streams: Array<{ path: string; tail_offset: string }>;
}

const call = (base: string, path: string, method: string, body?: unknown, token?: string) =>
  fetch(`${base}/v1/stream/${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

async function claimWhenWoken(base: string, worker: string): Promise<Claim> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const answer = await call(base, "__ds/subscriptions/jobs/claim", "POST", { worker });
    if (answer.status === 200) return (await answer.json()) as Claim;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("no wake to claim");
}

describe("subscriptions on a local journal", () => {
  it("keep their links, acknowledged offsets and generation across a restart", async () => {
    const dir = tempDir("subs-restart");
    let server = await start(dir);
    expect((await call(server.url, "wakes", "PUT", [])).status).toBe(201);
    const made = await call(server.url, "__ds/subscriptions/jobs", "PUT", {
      type: "pull-wake",
      pattern: "jobs/*",
      streams: ["listed/one"],
      wake_stream: "wakes",
      lease_ttl_ms: 60_000,
    });
    expect(made.status).toBe(201);
    expect((await call(server.url, "jobs/a", "PUT", { n: 1 })).status).toBe(201);
    const first = await claimWhenWoken(server.url, "w1");
    const tail = first.streams.find((stream) => stream.path === "jobs/a")!.tail_offset;
    const acked = await call(
      server.url,
      "__ds/subscriptions/jobs/ack",
      "POST",
      {
        wake_id: first.wake_id,
        generation: first.generation,
        acks: [{ stream: "jobs/a", offset: tail }],
      },
      first.token,
    );
    expect(acked.status).toBe(200);
    // More work while the wake is held, then the server stops with the wake in progress.
    expect((await call(server.url, "jobs/a", "POST", { n: 2 })).status).toBe(204);
    await server.stop();
    running.splice(running.indexOf(server), 1);

    server = await start(dir);
    const view = (await (await call(server.url, "__ds/subscriptions/jobs", "GET")).json()) as {
      streams: Array<{ path: string; link_type: string; acked_offset: string }>;
    };
    expect(view.streams).toEqual(
      expect.arrayContaining([
        { path: "listed/one", link_type: "explicit", acked_offset: expect.any(String) },
        { path: "jobs/a", link_type: "glob", acked_offset: tail },
      ]),
    );
    const second = await claimWhenWoken(server.url, "w2");
    expect(second.generation).toBe(first.generation + 1);
    const stale = await call(
      server.url,
      "__ds/subscriptions/jobs/ack",
      "POST",
      { wake_id: first.wake_id, generation: first.generation, acks: [] },
      first.token,
    );
    expect(stale.status).toBe(409);

    // Claims racing through one process: one winner while the wake is held.
    const released = await call(
      server.url,
      "__ds/subscriptions/jobs/release",
      "POST",
      { wake_id: second.wake_id, generation: second.generation },
      second.token,
    );
    expect(released.status).toBe(204);
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        call(server.url, "__ds/subscriptions/jobs/claim", "POST", { worker: `r${i}` }),
      ),
    );
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(1);
    expect(answers.filter((answer) => answer.status === 409)).toHaveLength(7);
  });
});
