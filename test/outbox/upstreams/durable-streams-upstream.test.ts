/**
 * Delivering to a Durable Streams server (a real `tidemark serve`): the outbox's
 * DurableStreamsUpstream through a proxy that loses answers after the server applied them;
 * a mirror SIGKILLed repeatedly while the remote server is killed and restarted too; and the
 * outboxes and mirrors `tidemark serve` runs from its config, with their status and metrics.
 */
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { DurableStreamsUpstream, Journal, Outbox } from "../../../src/index.js";
import { type RunningServer, startServer } from "../../../src/server/server.js";
import { spawnChild } from "../../support/child.js";
import { readApplied, startFlakyUpstream } from "../../support/flaky-upstream.js";
import { freePort } from "../../support/free-port.js";
import { startServerProcess } from "../../support/server-process.js";
import { memoryLogger } from "../../support/silent-logger.js";
import { rng } from "../../support/sim-disk.js";
import { tempDir } from "../../support/tmp-dir.js";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function remoteServer(options: Record<string, unknown> = {}): Promise<RunningServer> {
  const server = await startServer({
    dir: tempDir("ds-remote"),
    port: 0,
    logger: memoryLogger(),
    ...options,
  });
  cleanup.push(() => server.stop());
  return server;
}

/** Reads a whole remote JSON stream. */
async function readJson(url: string): Promise<unknown[]> {
  const out: unknown[] = [];
  let offset = "-1";
  for (;;) {
    const response = await fetch(`${url}?offset=${offset}`);
    expect(response.status).toBe(200);
    out.push(...((await response.json()) as unknown[]));
    offset = response.headers.get("stream-next-offset")!;
    if (response.headers.get("stream-up-to-date") !== null) return out;
  }
}

/** Forwards requests to `target`; loses the answer (after the target applied it) at random. */
async function lossyProxy(
  target: string,
  loss: number,
): Promise<{ url: string; lost: () => number }> {
  const random = rng(99);
  let lost = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const upstream = httpRequest(
        `${target}${req.url}`,
        { method: req.method, headers: req.headers },
        (answer) => {
          const body: Buffer[] = [];
          answer.on("data", (c: Buffer) => body.push(c));
          answer.on("end", () => {
            if (random() < loss) {
              lost++;
              req.socket.destroy(); // applied upstream; the answer never arrives
              return;
            }
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            res.end(Buffer.concat(body));
          });
        },
      );
      upstream.on("error", () => req.socket.destroy());
      upstream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanup.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, lost: () => lost };
}

describe("DurableStreamsUpstream", () => {
  it("appends each entry once, in order per remote stream, through answers lost after the append", async () => {
    const remote = await remoteServer();
    const proxy = await lossyProxy(remote.url, 0.25);
    const journal = await Journal.open(tempDir("ds-local"));
    cleanup.push(() => journal.close());
    const outbox = await Outbox.open(journal, "replicate", {
      upstream: new DurableStreamsUpstream({
        baseUrl: proxy.url,
        createContentType: "application/json",
      }),
      concurrency: 4,
      attemptsMax: 1000,
      backoff: { initialMs: 5, maxMs: 50 },
    });
    outbox.start();
    for (let n = 0; n < 60; n++) {
      for (const target of ["a", "b"]) {
        await outbox.enqueue({
          target: `/v1/stream/replica/${target}`,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ target, n }),
        });
      }
    }
    await outbox.idle();
    expect(proxy.lost()).toBeGreaterThan(5);
    for (const target of ["a", "b"]) {
      const messages = await readJson(`${remote.url}/v1/stream/replica/${target}`);
      expect(messages).toEqual(Array.from({ length: 60 }, (_, n) => ({ target, n })));
    }
    expect(outbox.stats()).toMatchObject({ pending: 0, deadLetters: 0, delivered: 120 });
  });

  it("puts an append the server refuses (a closed stream) in dead letters with its answer", async () => {
    const remote = await remoteServer();
    await fetch(`${remote.url}/v1/stream/closed`, {
      method: "PUT",
      headers: { "content-type": "text/plain", "stream-closed": "true" },
    });
    const journal = await Journal.open(tempDir("ds-local-closed"));
    cleanup.push(() => journal.close());
    const outbox = await Outbox.open(journal, "replicate", {
      upstream: new DurableStreamsUpstream({ baseUrl: remote.url }),
    });
    outbox.start();
    const id = await outbox.enqueue({
      target: "/v1/stream/closed",
      headers: { "content-type": "text/plain" },
      body: "too late",
    });
    await outbox.idle();
    expect(outbox.deadLetters()).toMatchObject([{ id, answer: { status: 409 } }]);
    expect(outbox.deadLetters()[0]!.reason).toMatch(/STREAM_CLOSED/);
  });
});

describe("Mirror", () => {
  it("copies a stream to a remote server exactly once across SIGKILLs of both sides", async () => {
    const dir = tempDir("mirror-local");
    const remoteDir = tempDir("mirror-remote");
    const port = await freePort();
    const random = rng(7);
    let written = 0;
    const appendMore = async (count: number) => {
      const journal = await Journal.open(dir);
      const src = await journal.stream("src");
      await src.appendMany(
        Array.from({ length: count }, () => JSON.stringify({ n: written++, pad: "x".repeat(50) })),
      );
      await journal.close();
    };
    await appendMore(400);
    let remote = await startServerProcess(remoteDir, ["--port", String(port)]);
    try {
      for (let round = 0; round < 6; round++) {
        const mirror = spawnChild("mirror-until-killed.ts", [dir, remote.url]);
        await mirror.waitFor(/^started/);
        await new Promise((resolve) => setTimeout(resolve, 30 + random() * 300));
        mirror.process.kill("SIGKILL");
        await mirror.exited;
        if (round % 2 === 1) {
          remote.child.process.kill("SIGKILL");
          await remote.child.exited;
          remote = await startServerProcess(remoteDir, ["--port", String(port)]);
        }
        await appendMore(50);
      }
      // The kills landed mid-copy: part of it is there, the rest is left for the last run.
      const before = (await readJson(`${remote.url}/v1/stream/replica`)).length;
      expect(before).toBeGreaterThan(0);
      expect(before).toBeLessThan(written);
      const last = spawnChild("mirror-until-killed.ts", [dir, remote.url]);
      const idle = await last.waitFor(/^idle/, 60_000);
      expect(JSON.parse(idle.slice(5))).toMatchObject({ halted: null, behind: 0 });
      last.process.kill("SIGKILL");
      await last.exited;
      const copied = (await readJson(`${remote.url}/v1/stream/replica`)) as Array<{ n: number }>;
      expect(copied.map((m) => m.n)).toEqual(Array.from({ length: written }, (_, n) => n));
    } finally {
      remote.child.process.kill("SIGKILL");
      await remote.child.exited;
    }
  });
});

describe("outboxes and mirrors run by tidemark serve", () => {
  it("starts them from its options, and reports them on /v1/outbox and /metrics", async () => {
    const upstreamDir = tempDir("served-upstream");
    const upstream = await startFlakyUpstream({ dir: upstreamDir });
    cleanup.push(() => upstream.stop());
    const replica = await remoteServer();
    const server = await remoteServer({
      outboxes: { sync: { baseUrl: upstream.url } },
      mirrors: [{ stream: "notes", baseUrl: replica.url, target: "/v1/stream/copy" }],
    });
    const outbox = server.outboxes.get("sync")!;
    await outbox.enqueue({ key: "k", body: "k#0" });
    await outbox.idle();
    expect(readApplied(upstreamDir).map((a) => a.body)).toEqual(["k#0"]);
    const status = (await (await fetch(`${server.url}/v1/outbox`)).json()) as {
      outboxes: Array<{ name: string; delivered: number }>;
      mirrors: Array<{ source: string; target: string }>;
    };
    expect(status.outboxes).toMatchObject([{ name: "sync", delivered: 1, pending: 0 }]);
    expect(status.mirrors).toMatchObject([{ source: "notes", target: "/v1/stream/copy" }]);
    expect((await fetch(`${server.url}/v1/outbox/sync`)).status).toBe(200);
    expect((await fetch(`${server.url}/v1/outbox/nope`)).status).toBe(404);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^tidemark_outbox_delivered\{outbox="sync"\} 1$/m);
    expect(metrics).toMatch(
      /^tidemark_mirror_halted\{source="notes",target="\/v1\/stream\/copy"\} 0$/m,
    );
    // Outbox streams are not Durable Streams: not listed, and their names are reserved.
    expect((await fetch(`${server.url}/v1/stream/__outbox/sync/entries`)).status).toBe(404);

    // The mirror copies what is appended to the local stream over HTTP.
    for (const text of ["a", "b", "c"]) {
      await fetch(`${server.url}/v1/stream/notes`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: text,
      });
    }
    await server.mirrors[0]!.idle();
    const copy = await fetch(`${replica.url}/v1/stream/copy?offset=-1`);
    expect(await copy.text()).toBe("abc");
  });
});
