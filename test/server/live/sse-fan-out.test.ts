/**
 * Live SSE readers served together (sse-fan-out.ts): many readers each get every message once,
 * in order; a reader that stops reading holds up no one and still gets everything; messages too
 * large to keep in memory, readers at different positions, and quiet streams (keep-alives).
 */
import { get, type IncomingMessage } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../../../src/server/server.js";
import { parseOffset } from "../../../src/server/streams/offsets.js";
import { memoryLogger } from "../../support/silent-logger.js";
import { tempDir } from "../../support/tmp-dir.js";

const running: RunningServer[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) await server.stop();
});

async function start(longPollTimeoutMs = 20_000): Promise<RunningServer> {
  const server = await startServer({
    dir: tempDir("tidemark-fan-out"),
    port: 0,
    logger: memoryLogger(),
    longPollTimeoutMs,
  });
  running.push(server);
  return server;
}

interface SseEvent {
  type: string;
  data: string;
}

/** A raw SSE reader: collects every event; can stop reading (its socket fills) and resume. */
class Reader {
  readonly events: SseEvent[] = [];
  private buffered = "";
  private response: IncomingMessage | undefined;
  readonly ready: Promise<void>;

  constructor(url: string) {
    this.ready = new Promise((resolve, reject) => {
      const request = get(url, (response) => {
        this.response = response;
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => this.take(chunk));
        response.on("error", () => undefined);
        resolve();
      });
      request.on("error", reject);
    });
  }

  private take(chunk: string): void {
    this.buffered += chunk;
    let end = this.buffered.indexOf("\n\n");
    while (end !== -1) {
      const lines = this.buffered.slice(0, end).split("\n");
      this.buffered = this.buffered.slice(end + 2);
      end = this.buffered.indexOf("\n\n");
      const type = lines[0]!.replace(/^event: ?/, "");
      const data = lines
        .slice(1)
        .map((line) => line.replace(/^data:/, ""))
        .join("\n");
      this.events.push({ type, data });
    }
  }

  /** Every JSON message received, in order. */
  messages(): unknown[] {
    return this.events
      .filter((e) => e.type === "data")
      .flatMap((e) => JSON.parse(e.data) as unknown[]);
  }

  controls(): Array<{ streamNextOffset: string; upToDate?: boolean }> {
    return this.events
      .filter((e) => e.type === "control")
      .map((e) => JSON.parse(e.data) as { streamNextOffset: string; upToDate?: boolean });
  }

  pause(): void {
    this.response!.pause();
  }

  resume(): void {
    this.response!.resume();
  }

  close(): void {
    this.response?.destroy();
  }
}

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function create(server: RunningServer, path: string): Promise<string> {
  const url = `${server.url}/v1/stream/${path}`;
  const response = await fetch(url, {
    method: "PUT",
    headers: { "content-type": "application/json" },
  });
  expect(response.status).toBe(201);
  return url;
}

async function append(url: string, message: unknown): Promise<void> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(message),
  });
  expect(response.status).toBe(204);
}

describe("SSE fan-out", () => {
  it("gives each of 50 readers every message once, in order, with offsets that only grow", async () => {
    const server = await start();
    const url = await create(server, "many");
    const readers = Array.from({ length: 50 }, () => new Reader(`${url}?offset=now&live=sse`));
    await Promise.all(readers.map((r) => r.ready));
    await until(() => readers.every((r) => r.controls().length > 0));
    const expected: number[] = [];
    // Appends one at a time and in concurrent bursts (several per commit).
    for (let round = 0; round < 20; round++) {
      const burst = Array.from({ length: 1 + (round % 5) }, (_, k) => round * 10 + k);
      expected.push(...burst);
      await Promise.all(burst.map((n) => append(url, { n })));
    }
    await until(() => readers.every((r) => r.messages().length >= expected.length));
    for (const reader of readers) {
      const got = reader.messages() as Array<{ n: number }>;
      expect(got.map((m) => m.n).sort((a, b) => a - b)).toEqual(expected);
      // Within a burst the order is the server's; across the stream it is the offsets' order.
      const positions = reader.controls().map((c) => parseOffset(c.streamNextOffset)!);
      expect(positions).toEqual([...positions].sort((a, b) => a - b));
      expect(positions.at(-1)).toBe(expected.length);
      reader.close();
    }
    // Every reader saw the same sequence.
    const first = JSON.stringify(readers[0]!.messages());
    for (const reader of readers) expect(JSON.stringify(reader.messages())).toBe(first);
  });

  it("does not let a reader that stops reading hold up the others, and catches it up after", async () => {
    const server = await start();
    const url = await create(server, "slow");
    const fast = Array.from({ length: 5 }, () => new Reader(`${url}?offset=now&live=sse`));
    const slow = new Reader(`${url}?offset=now&live=sse`);
    await Promise.all([...fast, slow].map((r) => r.ready));
    await until(() => [...fast, slow].every((r) => r.controls().length > 0));
    slow.pause();
    // 8 MB: more than the socket buffers between the server and the paused reader hold.
    const filler = "f".repeat(60_000);
    for (let n = 0; n < 140; n++) await append(url, { n, filler });
    await until(() => fast.every((r) => r.messages().length === 140));
    expect(slow.messages().length).toBeLessThan(140);
    slow.resume();
    await until(() => slow.messages().length === 140);
    expect((slow.messages() as Array<{ n: number }>).map((m) => m.n)).toEqual(
      Array.from({ length: 140 }, (_, n) => n),
    );
    for (const reader of [...fast, slow]) reader.close();
  });

  it("delivers messages too large to keep in memory, and serves readers at different offsets", async () => {
    const server = await start();
    const url = await create(server, "large");
    await append(url, { n: 0 });
    const fromStart = new Reader(`${url}?offset=-1&live=sse`);
    const fromNow = new Reader(`${url}?offset=now&live=sse`);
    await Promise.all([fromStart.ready, fromNow.ready]);
    await until(() => fromStart.messages().length === 1 && fromNow.controls().length > 0);
    const big = "b".repeat(400_000); // over the quarter of a stream's in-memory budget
    await append(url, { n: 1, big });
    await append(url, { n: 2 });
    await until(() => fromStart.messages().length === 3 && fromNow.messages().length === 2);
    expect((fromStart.messages() as Array<{ n: number }>).map((m) => m.n)).toEqual([0, 1, 2]);
    expect((fromNow.messages() as Array<{ n: number; big?: string }>)[0]!.big).toBe(big);
    fromStart.close();
    fromNow.close();
  });

  it("sends a keep-alive control event when the stream is quiet", async () => {
    const server = await start(300);
    const url = await create(server, "quiet");
    const reader = new Reader(`${url}?offset=now&live=sse`);
    await reader.ready;
    await until(() => reader.controls().length >= 3, 5000);
    expect(reader.messages()).toEqual([]);
    expect(reader.controls().every((c) => c.upToDate === true)).toBe(true);
    await append(url, { n: 1 });
    await until(() => reader.messages().length === 1);
    reader.close();
  });
});
