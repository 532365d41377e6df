/**
 * A server's outboxes over HTTP, against a real upstream on loopback that answers 412 to a
 * stale If-Match and 400 to a body saying REJECT: enqueue (text and base64 bodies), the entry
 * views, retry with a new precondition, discard, and what each token may do. With auth on, a
 * request without a token learns nothing (401 first), and a read-only token gets 403 on every
 * write.
 */
import { afterEach, describe, expect, it } from "vitest";
import type {
  OutboxDetail,
  OutboxEntryDetail,
  OutboxList,
} from "../../../src/server/admin/wire-types.js";
import { type RunningServer, type ServerOptions, startServer } from "../../../src/server/server.js";
import {
  CALM,
  type FlakyUpstream,
  readApplied,
  startFlakyUpstream,
} from "../../support/flaky-upstream.js";
import { memoryLogger } from "../../support/silent-logger.js";
import { tempDir } from "../../support/tmp-dir.js";

const WRITER = "w".repeat(32);
const READER = "r".repeat(32);
const OTHER = "o".repeat(32);

const running: Array<RunningServer | FlakyUpstream> = [];
afterEach(async () => {
  for (const item of running.splice(0).reverse()) await item.stop();
});

async function setup(options: Partial<ServerOptions> = {}) {
  const upstreamDir = tempDir("tidemark-upstream");
  const upstream = await startFlakyUpstream({ dir: upstreamDir, chaos: CALM });
  running.push(upstream);
  const server = await startServer({
    dir: tempDir("tidemark-outbox-http"),
    port: 0,
    logger: memoryLogger(),
    dashboardDir: false,
    outboxes: { sync: { baseUrl: upstream.url, attemptsMax: 2 } },
    ...options,
  });
  running.push(server);
  return { server, upstream, upstreamDir };
}

function call(server: RunningServer, method: string, path: string, body?: unknown, token?: string) {
  return fetch(`${server.url}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
}

async function detail(server: RunningServer, token?: string): Promise<OutboxDetail> {
  const res = await call(server, "GET", "/v1/outbox/sync", undefined, token);
  expect(res.status).toBe(200);
  return (await res.json()) as OutboxDetail;
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe("outboxes over HTTP", () => {
  it("enqueues, delivers, and keeps conflicts and dead letters with the upstream's answers", async () => {
    const { server, upstreamDir } = await setup();
    const ok = await call(server, "POST", "/v1/outbox/sync", {
      key: "doc-1",
      method: "PUT",
      target: "/items/1",
      headers: { "content-type": "application/json" },
      body: '{"title":"first"}',
    });
    expect(ok.status).toBe(201);
    const { id } = (await ok.json()) as { id: string };
    const binary = await call(server, "POST", "/v1/outbox/sync", {
      target: "/blobs/1",
      bodyBase64: Buffer.from([0, 1, 2, 255]).toString("base64"),
    });
    expect(binary.status).toBe(201);
    const stale = await call(server, "POST", "/v1/outbox/sync", {
      key: "doc-2",
      method: "PUT",
      target: "/items/2",
      body: "second",
      precondition: { ifMatch: '"v9"' },
    });
    const conflictId = ((await stale.json()) as { id: string }).id;
    const rejected = await call(server, "POST", "/v1/outbox/sync", {
      target: "/x",
      body: "REJECT",
    });
    const deadId = ((await rejected.json()) as { id: string }).id;

    await until(async () => {
      const d = await detail(server);
      return d.pending === 0 && d.conflicts === 1 && d.deadLetters === 1;
    }, "delivery");
    const applied = readApplied(upstreamDir);
    expect(applied.map((a) => a.path).sort()).toEqual(["/blobs/1", "/items/1"]);
    expect(applied.find((a) => a.path === "/items/1")!.body).toBe('{"title":"first"}');
    expect(id).not.toBe(conflictId);

    const d = await detail(server);
    expect(d.conflictEntries).toMatchObject([
      { id: conflictId, state: "conflict", key: "doc-2", answer: { status: 412 } },
    ]);
    expect(d.conflictEntries[0]!.answer!.headers["etag"]).toBe('"v0"');
    expect(d.deadLetterEntries).toMatchObject([
      { id: deadId, state: "dead", answer: { status: 400 } },
    ]);
    expect(d.writable).toBe(true);
    const entry = (await (
      await call(server, "GET", `/v1/outbox/sync/entries/${conflictId}`)
    ).json()) as OutboxEntryDetail;
    expect(Buffer.from(entry.bodyBase64, "base64").toString()).toBe("second");
    expect(entry.precondition).toEqual({ ifMatch: '"v9"' });
  });

  it("retries a conflict with a new precondition, and discards a dead letter", async () => {
    const { server, upstreamDir } = await setup();
    const stale = await call(server, "POST", "/v1/outbox/sync", {
      method: "PUT",
      target: "/items/7",
      body: "update",
      precondition: { ifMatch: '"v3"' },
    });
    const conflictId = ((await stale.json()) as { id: string }).id;
    const rejected = await call(server, "POST", "/v1/outbox/sync", {
      target: "/x",
      body: "REJECT",
    });
    const deadId = ((await rejected.json()) as { id: string }).id;
    await until(async () => {
      const d = await detail(server);
      return d.conflicts === 1 && d.deadLetters === 1;
    }, "the conflict and the dead letter");

    const retry = await call(server, "POST", `/v1/outbox/sync/entries/${conflictId}/retry`, {
      precondition: { ifMatch: '"v0"' },
    });
    expect(retry.status).toBe(200);
    expect(await retry.json()).toEqual({ id: conflictId });
    const discard = await call(server, "POST", `/v1/outbox/sync/entries/${deadId}/discard`);
    expect(discard.status).toBe(204);
    await until(async () => {
      const d = await detail(server);
      return d.pending === 0 && d.conflicts === 0 && d.deadLetters === 0;
    }, "the retry");
    expect(readApplied(upstreamDir).map((a) => a.path)).toEqual(["/items/7"]);
    // Neither is held any more: a second retry or discard finds nothing.
    expect((await call(server, "POST", `/v1/outbox/sync/entries/${conflictId}/retry`)).status).toBe(
      404,
    );
    expect((await call(server, "POST", `/v1/outbox/sync/entries/${deadId}/discard`)).status).toBe(
      404,
    );
    expect((await call(server, "GET", `/v1/outbox/sync/entries/${deadId}`)).status).toBe(404);
  });

  it("refuses bad requests with a code and stores nothing", async () => {
    const { server } = await setup();
    const cases: Array<[unknown, number, string]> = [
      [{ target: "/a", body: "x", bodyBase64: "eA==" }, 400, "INVALID_REQUEST"],
      [{ target: "/a", bodyBase64: "not base64!" }, 400, "INVALID_REQUEST"],
      [{ target: "/a", body: "x", extra: 1 }, 400, "INVALID_REQUEST"],
      [{ target: "/a", body: 42 }, 400, "INVALID_REQUEST"],
      [[1, 2], 400, "INVALID_REQUEST"],
      ["{not json", 400, "INVALID_REQUEST"],
      [{ target: "https://elsewhere/", body: "x" }, 400, "INVALID_ARGUMENT"],
      [
        { target: "/a", body: "x", headers: { authorization: "Bearer x" } },
        400,
        "INVALID_ARGUMENT",
      ],
      [
        { target: "/a", body: "x", precondition: { ifMatch: "no quotes" } },
        400,
        "INVALID_ARGUMENT",
      ],
    ];
    for (const [body, statusCode, code] of cases) {
      const res = await call(server, "POST", "/v1/outbox/sync", body);
      expect(res.status, JSON.stringify(body)).toBe(statusCode);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    expect((await detail(server)).pending).toBe(0);
    // A page of another origin may not write (no auth here: any page the user opens could try).
    const entry = JSON.stringify({ target: "/a", body: "x" });
    const foreign = await fetch(`${server.url}/v1/outbox/sync`, {
      method: "POST",
      headers: { origin: "http://evil.example", "content-type": "text/plain" },
      body: entry,
    });
    expect(foreign.status).toBe(403);
    expect((await detail(server)).pending).toBe(0);
    const own = await fetch(`${server.url}/v1/outbox/sync`, {
      method: "POST",
      headers: { origin: server.url, "content-type": "application/json" },
      body: entry,
    });
    expect(own.status).toBe(201);
    expect((await call(server, "POST", "/v1/outbox/nope", { body: "x" })).status).toBe(404);
    expect((await call(server, "DELETE", "/v1/outbox/sync")).status).toBe(405);
    expect((await call(server, "GET", "/v1/outbox/sync/entries/1/retry")).status).toBe(405);
    expect((await call(server, "GET", "/v1/outbox/sync?limit=0")).status).toBe(400);
  });

  it("checks the token before anything, and a read-only token may look but not act", async () => {
    const { server } = await setup({
      auth: {
        tokens: [
          { name: "writer", token: WRITER, scopes: [{ prefix: "", access: "write" }] },
          { name: "reader", token: READER, scopes: [{ prefix: "", access: "read" }] },
          { name: "other", token: OTHER, scopes: [{ prefix: "agents/", access: "write" }] },
        ],
      },
    });
    const stale = await call(
      server,
      "POST",
      "/v1/outbox/sync",
      { method: "PUT", target: "/items/1", body: "x", precondition: { ifMatch: '"v5"' } },
      WRITER,
    );
    expect(stale.status).toBe(201);
    const id = ((await stale.json()) as { id: string }).id;
    await until(async () => (await detail(server, WRITER)).conflicts === 1, "the conflict");

    // No token: 401, whether or not the outbox or the entry exists.
    for (const path of [
      "/v1/outbox",
      "/v1/outbox/sync",
      "/v1/outbox/nope",
      `/v1/outbox/sync/entries/${id}`,
    ]) {
      expect((await call(server, "GET", path)).status, path).toBe(401);
    }
    expect((await call(server, "POST", `/v1/outbox/nope/entries/1/retry`)).status).toBe(401);

    // Read-only: sees everything, may change nothing (and the page is told so).
    const seen = await detail(server, READER);
    expect(seen.conflicts).toBe(1);
    expect(seen.writable).toBe(false);
    for (const [path, body] of [
      ["/v1/outbox/sync", { body: "x" }],
      [`/v1/outbox/sync/entries/${id}/retry`, {}],
      [`/v1/outbox/sync/entries/${id}/discard`, undefined],
      ["/v1/outbox/nope", { body: "x" }],
    ] as const) {
      const res = await call(server, "POST", path, body, READER);
      expect(res.status, path).toBe(403);
    }
    expect((await detail(server, WRITER)).conflicts).toBe(1);

    // A token without any outbox scope sees none, and may not look at one.
    const list = (await (
      await call(server, "GET", "/v1/outbox", undefined, OTHER)
    ).json()) as OutboxList;
    expect(list.outboxes).toEqual([]);
    expect((await call(server, "GET", "/v1/outbox/sync", undefined, OTHER)).status).toBe(403);
    expect((await call(server, "GET", "/v1/outbox/nope", undefined, OTHER)).status).toBe(403);

    const retry = await call(
      server,
      "POST",
      `/v1/outbox/sync/entries/${id}/retry`,
      {
        precondition: { ifMatch: '"v0"' },
      },
      WRITER,
    );
    expect(retry.status).toBe(200);
  });
});
