/**
 * Request bodies under abuse (issue 14 item 5): what bodies hold is charged as it arrives and
 * bounded server-wide (bodyBytesInFlightMax); a request past the bound waits, then gets 503
 * with Retry-After; the oldest request always proceeds; connections that announce a large body
 * and stall hold nothing and get 408 after bodyIdleTimeoutMs.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type RunningServer, type ServerOptions, startServer } from "../../src/server/server.js";
import { type RawConnection, rawConnection } from "../support/raw-http.js";
import { memoryLogger } from "../support/silent-logger.js";
import { tempDir } from "../support/tmp-dir.js";

const running: RunningServer[] = [];
const sockets: RawConnection[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.socket.destroy();
  for (const server of running.splice(0)) await server.stop();
});

async function start(options: Partial<ServerOptions>): Promise<RunningServer> {
  const server = await startServer({
    dir: tempDir("tidemark-bodies"),
    port: 0,
    logger: memoryLogger(),
    ...options,
  });
  running.push(server);
  await fetch(`${server.url}/v1/stream/s`, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream" },
  });
  return server;
}

/** A POST to stream `s` that announces `length` bytes and sends only `first` of them. */
function partialPost(server: RunningServer, length: number, first: number): RawConnection {
  const port = Number(new URL(server.url).port);
  const head =
    `POST /v1/stream/s HTTP/1.1\r\nHost: x\r\ncontent-type: application/octet-stream\r\n` +
    `content-length: ${length}\r\n\r\n`;
  const connection = rawConnection(
    port,
    Buffer.concat([Buffer.from(head), Buffer.alloc(first, 1)]),
  );
  sockets.push(connection);
  return connection;
}

const post = (server: RunningServer, bytes: number) =>
  fetch(`${server.url}/v1/stream/s`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body: Buffer.alloc(bytes, 2),
  });

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("request bodies", () => {
  it("lets bodies announced but not sent hold nothing, and answers them 408 when they stall", async () => {
    const server = await start({ bodyBytesInFlightMax: 1024 * 1024, bodyIdleTimeoutMs: 500 });
    const stalled = Array.from({ length: 30 }, () => partialPost(server, 16_000_000, 10));
    // While 30 connections announce 480 MB, a real 900 KB body goes through at once.
    const response = await post(server, 900 * 1024);
    expect(response.status).toBe(204);
    await Promise.all(stalled.map((connection) => connection.closed));
    for (const connection of stalled) {
      expect(connection.status()).toBe(408);
      expect(connection.received()).toContain("REQUEST_TIMEOUT");
    }
  });

  it("makes a body past the budget wait for older ones, then answers 503 with Retry-After", async () => {
    const server = await start({
      bodyBytesInFlightMax: 256 * 1024,
      bodyBudgetWaitMs: 300,
      bodyIdleTimeoutMs: 5000,
    });
    // The oldest request holds 200 KB of its 1 MB body and goes quiet.
    const oldest = partialPost(server, 1024 * 1024, 200 * 1024);
    await until(async () => (await bytesHeld(server)) >= 200 * 1024, "the first body to be held");
    const refused = await post(server, 200 * 1024);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("SERVER_BUSY");
    // The oldest request always proceeds, even past the budget: it finishes.
    oldest.socket.write(Buffer.alloc(1024 * 1024 - 200 * 1024, 1));
    await until(() => oldest.status() !== undefined, "the first answer");
    expect(oldest.status()).toBe(204);
    // Once it is done the budget is free again.
    expect((await post(server, 200 * 1024)).status).toBe(204);
    expect(await bytesHeld(server)).toBe(0);
  });

  it("serves one body larger than the whole budget when it is alone", async () => {
    const server = await start({ bodyBytesInFlightMax: 64 * 1024 });
    expect((await post(server, 2 * 1024 * 1024)).status).toBe(204);
  });
});

/** The server's own count of body bytes held, from /metrics. */
async function bytesHeld(server: RunningServer): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Number(/^tidemark_request_body_bytes (\d+)$/m.exec(text)![1]);
}
