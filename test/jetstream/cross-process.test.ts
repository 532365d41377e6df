/**
 * Two `tidemark serve --nats` processes on one nats-server, checked for what must be atomic
 * across processes: racing `Stream-Seq` appends (exactly one wins however many race through
 * both processes), producers whose appends alternate between the processes (each message once,
 * in order), a close made through one refusing appends through the other, a delete through one
 * seen by the other, and a long-poll on one answered by an append through the other.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNatsServer } from "../support/nats.js";
import { checkExactlyOnce, runRetryingProducers } from "../support/retrying-producers.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import { tempDir } from "../support/tmp-dir.js";

describe("two processes on one JetStream", () => {
  let nats: NatsServer | undefined;
  let a: ServerProcess;
  let b: ServerProcess;
  beforeAll(async () => {
    nats = await startNatsServer({ syncAlways: true });
    a = await startServerProcess(tempDir("tidemark-x-a"), ["--nats", nats.url]);
    b = await startServerProcess(tempDir("tidemark-x-b"), ["--nats", nats.url]);
  }, 120_000);
  afterAll(async () => {
    for (const server of [a, b]) {
      server?.child.process.kill("SIGTERM");
      await server?.child.exited;
    }
    await nats?.stop();
  });

  const put = (url: string, path: string, type = "text/plain") =>
    fetch(`${url}/v1/stream/${path}`, { method: "PUT", headers: { "content-type": type } });
  const post = (url: string, path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${url}/v1/stream/${path}`, {
      method: "POST",
      headers: { "content-type": "text/plain", ...headers },
      body,
    });

  it("lets exactly one of many racing appends with the same Stream-Seq win", async () => {
    expect((await put(a.url, "race")).status).toBe(201);
    for (let round = 1; round <= 10; round++) {
      const seq = String(round).padStart(4, "0");
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          post(i % 2 === 0 ? a.url : b.url, "race", `${round}:${i};`, { "stream-seq": seq }),
        ),
      );
      const statuses = answers.map((answer) => answer.status);
      expect(statuses.filter((status) => status === 204)).toHaveLength(1);
      expect(statuses.filter((status) => status === 409)).toHaveLength(11);
    }
    const text = await (await fetch(`${b.url}/v1/stream/race?offset=-1`)).text();
    expect(
      text
        .split(";")
        .filter(Boolean)
        .map((part) => Number(part.split(":")[0])),
    ).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("keeps producers exactly once when their appends alternate between the processes", async () => {
    expect((await put(a.url, "alternating", "application/json")).status).toBe(201);
    const run = await runRetryingProducers({
      urls: () => [a.url, b.url],
      path: "alternating",
      producers: 6,
      messages: 60,
    });
    expect(run.acknowledged).toBe(360);
    const held = await checkExactlyOnce(a.url, "alternating", 6, 60);
    expect(held.problems).toEqual([]);
    expect(held.total).toBe(360);
  });

  it("agrees on close and delete, and wakes a long-poll on one for an append on the other", async () => {
    expect((await put(a.url, "life")).status).toBe(201);
    const tail = (await fetch(`${b.url}/v1/stream/life`, { method: "HEAD" })).headers.get(
      "stream-next-offset",
    );
    const polling = fetch(`${b.url}/v1/stream/life?offset=${tail}&live=long-poll`);
    expect((await post(a.url, "life", "hello")).status).toBe(204);
    const polled = await polling;
    expect(polled.status).toBe(200);
    expect(await polled.text()).toBe("hello");
    const closed = await fetch(`${a.url}/v1/stream/life`, {
      method: "POST",
      headers: { "stream-closed": "true" },
    });
    expect(closed.status).toBe(204);
    expect((await post(b.url, "life", "late")).status).toBe(409);
    expect((await fetch(`${b.url}/v1/stream/life?offset=-1`)).headers.get("stream-closed")).toBe(
      "true",
    );
    expect((await fetch(`${b.url}/v1/stream/life`, { method: "DELETE" })).status).toBe(204);
    expect((await fetch(`${a.url}/v1/stream/life?offset=-1`)).status).toBe(404);
    expect((await post(a.url, "life", "after")).status).toBe(404);
  });
});
