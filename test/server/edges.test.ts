/**
 * The server's production edges beyond the protocol: auth scopes, every limit, error bodies,
 * retention answering 410, health and metrics.
 */
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningServer, type ServerOptions, startServer } from "../../src/server/server.js";
import { formatOffset } from "../../src/server/streams/offsets.js";
import { memoryLogger } from "../support/silent-logger.js";
import { tempDir } from "../support/tmp-dir.js";

const running: RunningServer[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) await server.stop();
});

async function start(options: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const server = await startServer({
    dir: tempDir("tidemark-server"),
    port: 0,
    logger: memoryLogger(),
    ...options,
  });
  running.push(server);
  return server;
}

const url = (server: RunningServer, path: string) => `${server.url}/v1/stream/${path}`;

async function errorOf(response: Response): Promise<{ status: number; code: string }> {
  expect(response.headers.get("content-type")).toBe("application/json");
  expect(response.headers.get("x-content-type-options")).toBe("nosniff");
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect(body.error.message.length).toBeGreaterThan(0);
  return { status: response.status, code: body.error.code };
}

describe("auth", () => {
  const writer = "w".repeat(32);
  const reader = "r".repeat(32);
  const admin = "a".repeat(32);
  const root = "o".repeat(32);
  const auth = {
    tokens: [
      { name: "root", token: root, scopes: [{ prefix: "", access: "write" as const }] },
      { name: "writer", token: writer, scopes: [{ prefix: "team-a/", access: "write" as const }] },
      { name: "reader", token: reader, scopes: [{ prefix: "team-a/", access: "read" as const }] },
      { name: "admin", token: admin, scopes: [{ prefix: "", access: "read" as const }] },
    ],
  };
  const as = (token: string | undefined, init: RequestInit = {}): RequestInit => ({
    ...init,
    headers: {
      ...(init.headers as Record<string, string>),
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
  });

  it("requires a known bearer token, and a scope that covers the path and the access", async () => {
    const server = await start({ auth });
    const put = { method: "PUT", headers: { "content-type": "text/plain" }, body: "x" };
    expect(await errorOf(await fetch(url(server, "team-a/s"), as(undefined, put)))).toEqual({
      status: 401,
      code: "UNAUTHORIZED",
    });
    expect(await errorOf(await fetch(url(server, "team-a/s"), as("x".repeat(32), put)))).toEqual({
      status: 401,
      code: "UNAUTHORIZED",
    });
    expect((await fetch(url(server, "team-a/s"), as(writer, put))).status).toBe(201);
    expect(await errorOf(await fetch(url(server, "team-b/s"), as(writer, put)))).toEqual({
      status: 403,
      code: "FORBIDDEN",
    });
    expect(await errorOf(await fetch(url(server, "team-a/t"), as(reader, put)))).toEqual({
      status: 403,
      code: "FORBIDDEN",
    });
    expect(await (await fetch(url(server, "team-a/s"), as(reader))).text()).toBe("x");
    expect((await fetch(url(server, "team-a/s"), as(writer))).status).toBe(200); // write includes read
    expect((await fetch(`${server.url}/metrics`, as(reader))).status).toBe(403);
    expect((await fetch(`${server.url}/metrics`, as(admin))).status).toBe(200);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200); // health needs no token
  });

  it("needs read access to a fork's source, to create the fork and to read through it", async () => {
    const server = await start({ auth });
    const at = (path: string) => url(server, path);
    const text = { "content-type": "text/plain" };
    const created = await fetch(
      at("team-b/secret"),
      as(root, { method: "PUT", headers: text, body: "secret" }),
    );
    expect(created.status).toBe(201);
    for (const source of ["/v1/stream/team-b/secret", "/v1/stream/%74eam-b/secret"]) {
      const forked = await fetch(
        at("team-a/fork"),
        as(writer, { method: "PUT", headers: { "stream-forked-from": source } }),
      );
      expect(await errorOf(forked)).toEqual({ status: 403, code: "FORBIDDEN" });
    }
    expect((await fetch(at("team-a/fork"), as(root))).status).toBe(404); // nothing was created
    // A fork made by a token that may read the source is no way around the reader's scope.
    const made = await fetch(
      at("team-a/fork"),
      as(root, { method: "PUT", headers: { "stream-forked-from": "/v1/stream/team-b/secret" } }),
    );
    expect(made.status).toBe(201);
    const forkOffset = made.headers.get("stream-next-offset")!;
    expect(await errorOf(await fetch(`${at("team-a/fork")}?offset=-1`, as(writer)))).toEqual({
      status: 403,
      code: "FORBIDDEN",
    });
    const sse = await fetch(`${at("team-a/fork")}?offset=-1&live=sse`, as(reader));
    expect(await errorOf(sse)).toEqual({ status: 403, code: "FORBIDDEN" });
    const poll = await fetch(`${at("team-a/fork")}?offset=-1&live=long-poll`, as(reader));
    expect(await errorOf(poll)).toEqual({ status: 403, code: "FORBIDDEN" });
    // From the fork offset on, the fork's own messages are the writer's to read.
    const own = await fetch(
      at("team-a/fork"),
      as(writer, { method: "POST", headers: text, body: "mine" }),
    );
    expect(own.status).toBe(204);
    const mine = await fetch(`${at("team-a/fork")}?offset=${forkOffset}`, as(writer));
    expect(await mine.text()).toBe("mine");
    const all = await fetch(`${at("team-a/fork")}?offset=-1`, as(root));
    expect(await all.text()).toBe("secretmine");
    // Deleting the source leaves the fork readable, but still only with read on the source.
    expect((await fetch(at("team-b/secret"), as(root, { method: "DELETE" }))).status).toBe(204);
    expect((await fetch(`${at("team-a/fork")}?offset=-1`, as(writer))).status).toBe(403);
    const after = await fetch(`${at("team-a/fork")}?offset=-1`, as(root));
    expect(await after.text()).toBe("secretmine");
  });

  it("refuses to bind a non-loopback address without auth, and validates tokens", async () => {
    await expect(
      startServer({ dir: tempDir(), host: "0.0.0.0", port: 0, logger: memoryLogger() }),
    ).rejects.toThrow(/without authorization/);
    await expect(
      startServer({
        dir: tempDir(),
        port: 0,
        logger: memoryLogger(),
        auth: { tokens: [{ token: "short", scopes: [{ prefix: "", access: "read" }] }] },
      }),
    ).rejects.toThrow(/at least 32/);
  });
});

describe("limits", () => {
  it("answers a body over bodyBytesMax with 413, and the server stays healthy", async () => {
    const server = await start({ bodyBytesMax: 1024 });
    await fetch(url(server, "s"), { method: "PUT", headers: { "content-type": "text/plain" } });
    const big = await fetch(url(server, "s"), {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "x".repeat(5000),
    });
    expect(await errorOf(big)).toEqual({ status: 413, code: "BODY_TOO_LARGE" });
    const chunked = await fetch(url(server, "s"), {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 10; i++)
            controller.enqueue(new TextEncoder().encode("y".repeat(500)));
          controller.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(
      (
        await fetch(url(server, "s"), {
          method: "POST",
          headers: { "content-type": "text/plain" },
          body: "ok",
        })
      ).status,
    ).toBe(204);
    expect(await (await fetch(url(server, "s"))).text()).toBe("ok");
  });

  it("with catchUpBytesMax, splits catch-up reads; the client continues from Stream-Next-Offset until up to date", async () => {
    const server = await start({ catchUpBytesMax: 1000 });
    await fetch(url(server, "s"), { method: "PUT", headers: { "content-type": "text/plain" } });
    for (let i = 0; i < 30; i++) {
      await fetch(url(server, "s"), {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: `${i}:${"z".repeat(200)}\n`,
      });
    }
    let offset = "-1";
    let text = "";
    let pages = 0;
    for (;;) {
      const response = await fetch(`${url(server, "s")}?offset=${offset}`);
      const body = await response.text();
      expect(body.length).toBeLessThanOrEqual(1000 + 210);
      text += body;
      pages++;
      offset = response.headers.get("stream-next-offset")!;
      if (response.headers.get("stream-up-to-date") === "true") break;
    }
    expect(pages).toBeGreaterThanOrEqual(6);
    expect(
      text
        .split("\n")
        .filter(Boolean)
        .map((line) => Number(line.split(":")[0])),
    ).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it("answers a catch-up read with everything up to the tail as of the request, in one response", async () => {
    const server = await start();
    await fetch(url(server, "j"), {
      method: "PUT",
      headers: { "content-type": "application/json" },
    });
    const big = "b".repeat(100_000); // written from the read buffer, not copied
    for (let i = 0; i < 300; i++) {
      await fetch(url(server, "j"), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ i, text: i % 50 === 0 ? big : "small" }),
      });
    }
    const response = await fetch(`${url(server, "j")}?offset=-1`);
    expect(response.headers.get("stream-up-to-date")).toBe("true");
    expect(response.headers.get("stream-next-offset")).toBe(formatOffset(300));
    expect(response.headers.get("content-length")).toBeNull(); // streamed
    const messages = (await response.json()) as Array<{ i: number; text: string }>;
    expect(messages.map((m) => m.i)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(messages[50]!.text).toBe(big);
    const etag = response.headers.get("etag")!;
    const again = await fetch(`${url(server, "j")}?offset=-1`, {
      headers: { "if-none-match": etag },
    });
    expect(again.status).toBe(304);
    const tail = await fetch(`${url(server, "j")}?offset=${formatOffset(300)}`);
    expect(await tail.json()).toEqual([]);
  });

  it("refuses live connections past liveConnectionsMax with 503 and Retry-After", async () => {
    const server = await start({ liveConnectionsMax: 2, longPollTimeoutMs: 3000 });
    await fetch(url(server, "s"), { method: "PUT", headers: { "content-type": "text/plain" } });
    const tail = formatOffset(0);
    const controller = new AbortController();
    const waiting = [1, 2].map(() =>
      fetch(`${url(server, "s")}?offset=${tail}&live=long-poll`, {
        signal: controller.signal,
      }).catch(() => undefined),
    );
    await new Promise((resolve) => setTimeout(resolve, 150));
    const third = await fetch(`${url(server, "s")}?offset=${tail}&live=long-poll`);
    expect(third.headers.get("retry-after")).toBe("1");
    expect(await errorOf(third)).toEqual({ status: 503, code: "TOO_MANY_LIVE_READERS" });
    controller.abort();
    await Promise.all(waiting);
  });

  it("ends an SSE response after sseLifetimeMs, so the client reconnects", async () => {
    const server = await start({ sseLifetimeMs: 300, longPollTimeoutMs: 100 });
    await fetch(url(server, "s"), {
      method: "PUT",
      headers: { "content-type": "text/plain" },
      body: "hi",
    });
    const started = Date.now();
    const response = await fetch(`${url(server, "s")}?offset=-1&live=sse`);
    const text = await response.text(); // resolves only when the server ends the response
    expect(Date.now() - started).toBeLessThan(3000);
    expect(text).toContain("data:hi");
    expect(text).toContain('"upToDate":true');
  });

  it("closes connections whose headers do not arrive within headersTimeoutMs", async () => {
    // The request timeout is a hundred times longer, so a close near headersTimeoutMs can only
    // be the headers timeout (Node answers both the same way: ERR_HTTP_REQUEST_TIMEOUT).
    const headersTimeoutMs = 300;
    const server = await start({ headersTimeoutMs, requestTimeoutMs: 30_000 });
    await fetch(url(server, "s"), { method: "PUT", headers: { "content-type": "text/plain" } });
    const port = Number(new URL(server.url).port);
    const started = performance.now();
    const slowHeaders = rawConnection(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); // never finished
    // Headers complete, body slow: the headers timeout must leave this one alone.
    const slowBody = rawConnection(
      port,
      "POST /v1/stream/s HTTP/1.1\r\nHost: x\r\ncontent-type: text/plain\r\n" +
        "content-length: 100\r\n\r\nab",
    );
    try {
      await slowHeaders.closed;
      const closedAfterMs = performance.now() - started;
      expect(closedAfterMs).toBeGreaterThanOrEqual(headersTimeoutMs - 50);
      expect(closedAfterMs).toBeLessThan(5000);
      // Three more checks of the timeouts (every 300 ms) later, the slow body is still awaited.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(slowBody.isClosed()).toBe(false);
      expect(slowBody.received()).toBe("");
    } finally {
      slowBody.socket.destroy(); // or stop() would wait out its grace for the request
    }
  });
});

/** A TCP connection to the server that sends `request` and keeps what comes back. */
function rawConnection(port: number, request: string) {
  const socket = connect(port, "127.0.0.1");
  let received = "";
  let isClosed = false;
  const closed = new Promise<void>((resolve) => {
    socket.on("close", () => {
      isClosed = true;
      resolve();
    });
  });
  socket.on("error", () => undefined);
  socket.on("data", (chunk: Buffer) => {
    received += chunk.toString("latin1");
  });
  socket.write(request);
  return { socket, closed, isClosed: () => isClosed, received: () => received };
}

describe("errors and retention", () => {
  it("answers 410 for an offset that retention released, and keeps serving the rest", async () => {
    const server = await start({ streamLimits: { recordsMax: 50 }, segmentBytesMax: 4096 });
    await fetch(url(server, "ring"), { method: "PUT", headers: { "content-type": "text/plain" } });
    for (let i = 0; i < 400; i++) {
      await fetch(url(server, "ring"), {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: `${i};`,
      });
    }
    expect(await errorOf(await fetch(`${url(server, "ring")}?offset=${formatOffset(1)}`))).toEqual({
      status: 410,
      code: "CURSOR_EXPIRED",
    });
    const text = await (await fetch(url(server, "ring"))).text();
    const kept = text.split(";").filter(Boolean).map(Number);
    expect(kept.at(-1)).toBe(399);
    expect(kept.length).toBeGreaterThanOrEqual(50);
  });

  it("gives every error a JSON body with a code, for every kind of bad request", async () => {
    const server = await start();
    await fetch(url(server, "s"), {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: "[1]",
    });
    const cases: Array<[string, RequestInit, number, string]> = [
      ["nope", {}, 404, "NOT_FOUND"],
      ["s?offset=bogus", {}, 400, "INVALID_REQUEST"],
      [
        "s",
        { method: "POST", headers: { "content-type": "application/json" }, body: "{" },
        400,
        "INVALID_JSON",
      ],
      [
        "s",
        { method: "POST", headers: { "content-type": "application/json" }, body: "[]" },
        400,
        "EMPTY_JSON_ARRAY",
      ],
      [
        "s",
        { method: "POST", headers: { "content-type": "text/plain" }, body: "x" },
        409,
        "CONTENT_TYPE_MISMATCH",
      ],
      [
        "s",
        { method: "POST", body: "x", headers: { "producer-id": "p" } },
        400,
        "INVALID_PRODUCER",
      ],
      ["s", { method: "PATCH" }, 405, "METHOD_NOT_ALLOWED"],
      ["a%2Fb", { method: "PUT" }, 400, "INVALID_NAME"],
      ["s?live=sideways&offset=-1", {}, 400, "INVALID_LIVE"],
    ];
    for (const [path, init, status, code] of cases) {
      expect(
        await errorOf(await fetch(url(server, path), init)),
        `${init.method ?? "GET"} ${path}`,
      ).toEqual({ status, code });
    }
  });

  it("reports health and Prometheus metrics", async () => {
    const server = await start();
    await fetch(url(server, "s"), { method: "PUT", headers: { "content-type": "text/plain" } });
    await fetch(url(server, "s"), {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "abc",
    });
    expect(await (await fetch(`${server.url}/healthz`)).json()).toMatchObject({
      ok: true,
      streams: 1,
    });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^tidemark_appends_total 1$/m);
    expect(metrics).toMatch(/^tidemark_append_bytes_total 3$/m);
    expect(metrics).toMatch(/^tidemark_streams 1$/m);
    expect(metrics).toMatch(/tidemark_append_duration_seconds_bucket/);
    // The append was acknowledged at durability 'always': at least one fdatasync covered it.
    expect(Number(/^tidemark_syncs_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/^tidemark_http_requests_total\{method="POST",status="204"\} 1$/m);
  });
});
