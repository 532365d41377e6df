/**
 * The admin API against a real server on loopback: journal stats against the configured limits,
 * the stream list (prefix, order, pages, what a token may see), one stream with its consumers,
 * and pages of messages from every kind of start, in every encoding.
 */
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { BoundedHeap } from "../../../src/server/admin/stream-list.js";
import type {
  MessagePage,
  StatsView,
  StreamDetail,
  StreamPage,
} from "../../../src/server/admin/wire-types.js";
import { type RunningServer, type ServerOptions, startServer } from "../../../src/server/server.js";
import { memoryLogger } from "../../support/silent-logger.js";
import { tempDir } from "../../support/tmp-dir.js";

const running: RunningServer[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) await server.stop();
});

async function start(options: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const server = await startServer({
    dir: tempDir("tidemark-admin"),
    port: 0,
    logger: memoryLogger(),
    dashboardDir: false,
    ...options,
  });
  running.push(server);
  return server;
}

async function get<T>(server: RunningServer, path: string, token?: string): Promise<T> {
  const res = await fetch(`${server.url}${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  expect(res.status, `${path}: ${await res.clone().text()}`).toBe(200);
  return (await res.json()) as T;
}

async function status(server: RunningServer, path: string, token?: string): Promise<number> {
  const res = await fetch(`${server.url}${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  await res.arrayBuffer();
  return res.status;
}

async function create(server: RunningServer, path: string, type = "application/json") {
  const res = await fetch(`${server.url}/v1/stream/${path}`, {
    method: "PUT",
    headers: { "content-type": type },
  });
  expect([200, 201]).toContain(res.status);
}

async function append(
  server: RunningServer,
  path: string,
  body: string | Uint8Array,
  type = "application/json",
) {
  const res = await fetch(`${server.url}/v1/stream/${path}`, {
    method: "POST",
    headers: { "content-type": type },
    body,
  });
  expect([200, 204]).toContain(res.status);
}

describe("admin API: /v1/stats", () => {
  it("reports the journal against its limits, the server's counters and live readers", async () => {
    const server = await start({
      journalLimits: { bytesMax: 64 * 1024 * 1024, diskFreeBytesMin: 1024 * 1024 },
    });
    await create(server, "a");
    for (let i = 0; i < 5; i++) await append(server, "a", JSON.stringify({ i }));
    const stats = await get<StatsView>(server, "/v1/stats");
    const journal = await server.journal.stats();
    expect(stats.journal.bytesMax).toBe(64 * 1024 * 1024);
    expect(stats.journal.diskFreeBytesMin).toBe(1024 * 1024);
    expect(stats.journal.bytes).toBe(journal.bytes);
    expect(stats.journal.records).toBe(journal.records);
    expect(stats.streams).toBe(1);
    expect(stats.totals.appends).toBe(5);
    expect(stats.totals.appendBytes).toBe(5 * JSON.stringify({ i: 0 }).length);
    expect(stats.durability).toBe("always");
    expect(stats.recovery).toEqual([]);

    // A live reader counts while it waits.
    const abort = new AbortController();
    const sse = await fetch(`${server.url}/v1/stream/a?offset=now&live=sse`, {
      signal: abort.signal,
    });
    expect(sse.status).toBe(200);
    const during = await get<StatsView>(server, "/v1/stats");
    expect(during.live).toMatchObject({ sse: 1, longPoll: 0, max: 10_000 });
    abort.abort();
  });

  it("shows what recovery repaired when the journal opened", async () => {
    const dir = tempDir("tidemark-admin");
    const first = await start({ dir });
    await create(first, "torn");
    await append(first, "torn", JSON.stringify({ kept: true }));
    await first.stop();
    running.splice(running.indexOf(first), 1);
    // A crash mid-write: garbage after the last complete record of the active segment.
    const { readdir, appendFile } = await import("node:fs/promises");
    const streamsDir = `${dir}/streams`;
    const streamDir = (await readdir(streamsDir)).find((name) => name.startsWith("torn-"))!;
    const segment = (await readdir(`${streamsDir}/${streamDir}`)).find((n) => n.endsWith(".seg"))!;
    await appendFile(`${streamsDir}/${streamDir}/${segment}`, Buffer.alloc(37, 0xab));
    const second = await start({ dir });
    const stats = await get<StatsView>(second, "/v1/stats");
    expect(stats.recoveryEvents).toBeGreaterThan(0);
    expect(stats.recovery.map((event) => event.kind)).toContain("torn-tail");
  });

  it("needs read access to every stream", async () => {
    const server = await start({
      auth: {
        tokens: [
          { name: "all", token: "a".repeat(32), scopes: [{ prefix: "", access: "read" }] },
          { name: "some", token: "s".repeat(32), scopes: [{ prefix: "agents/", access: "write" }] },
        ],
      },
    });
    expect(await status(server, "/v1/stats")).toBe(401);
    expect(await status(server, "/v1/stats", "x".repeat(32))).toBe(401);
    expect(await status(server, "/v1/stats", "s".repeat(32))).toBe(403);
    expect(await status(server, "/v1/stats", "a".repeat(32))).toBe(200);
    expect(await get(server, "/v1/auth", "s".repeat(32))).toEqual({
      enabled: true,
      token: "some",
      scopes: [{ prefix: "agents/", access: "write" }],
    });
  });
});

describe("admin API: /v1/streams", () => {
  it("pages through streams by name, filtered by prefix on the server, without internal ones", async () => {
    const server = await start();
    const names = Array.from({ length: 23 }, (_, i) => `t/${String(i).padStart(2, "0")}`);
    for (const name of names) await create(server, name);
    await create(server, "other");
    const seen: string[] = [];
    let after = "";
    for (let pages = 0; pages < 10; pages++) {
      const page = await get<StreamPage>(
        server,
        `/v1/streams?prefix=t/&limit=5${after === "" ? "" : `&after=${encodeURIComponent(after)}`}`,
      );
      expect(page.total).toBe(23);
      seen.push(...page.streams.map((s) => s.name));
      if (page.next === null) break;
      after = page.next;
    }
    expect(seen).toEqual(names);
    const all = await get<StreamPage>(server, "/v1/streams");
    expect(all.total).toBe(24); // the server's own __ds/ streams are not listed
    expect(all.streams.every((s) => !s.name.startsWith("__"))).toBe(true);
  });

  it("sorts by a figure, descending, with cursors that continue the order", async () => {
    const server = await start({ streamLimits: { recordsMax: 100 } });
    for (let i = 0; i < 7; i++) {
      await create(server, `s${i}`);
      for (let n = 0; n < i * 3; n++) await append(server, `s${i}`, `{"n":${n}}`);
    }
    const first = await get<StreamPage>(server, "/v1/streams?sort=records&limit=3");
    expect(first.streams.map((s) => s.name)).toEqual(["s6", "s5", "s4"]);
    expect(first.streams[0]).toMatchObject({ records: 18, firstSeq: 1, lastSeq: 18 });
    expect(first.streams[0]!.full).toBeCloseTo(0.18);
    expect(first.next).toBe("12,s4");
    const second = await get<StreamPage>(
      server,
      `/v1/streams?sort=records&limit=3&after=${encodeURIComponent(first.next!)}`,
    );
    expect(second.streams.map((s) => s.name)).toEqual(["s3", "s2", "s1"]);
    const ascending = await get<StreamPage>(server, "/v1/streams?sort=full&order=asc&limit=2");
    expect(ascending.streams.map((s) => s.name)).toEqual(["s0", "s1"]);
    for (const bad of ["sort=size", "order=up", "limit=0", "limit=1001", "sort=bytes&after=nope"]) {
      expect(await status(server, `/v1/streams?${bad}`), bad).toBe(400);
    }
  });

  it("lists only what the token may read", async () => {
    const server = await start({
      auth: {
        tokens: [
          {
            name: "agents",
            token: "g".repeat(32),
            scopes: [{ prefix: "agents/", access: "read" }],
          },
          { name: "admin", token: "w".repeat(32), scopes: [{ prefix: "", access: "write" }] },
        ],
      },
    });
    for (const name of ["agents/1", "agents/2", "billing/1"]) {
      const res = await fetch(`${server.url}/v1/stream/${name}`, {
        method: "PUT",
        headers: { "content-type": "text/plain", authorization: `Bearer ${"w".repeat(32)}` },
      });
      expect(res.status).toBe(201);
    }
    expect(await status(server, "/v1/streams")).toBe(401);
    const page = await get<StreamPage>(server, "/v1/streams", "g".repeat(32));
    expect(page.streams.map((s) => s.name)).toEqual(["agents/1", "agents/2"]);
    expect(page.total).toBe(2);
    expect(await status(server, "/v1/streams/billing/1", "g".repeat(32))).toBe(403);
    expect(await status(server, "/v1/streams/billing/nope", "g".repeat(32))).toBe(403);
    expect(await status(server, "/v1/streams/agents/nope", "g".repeat(32))).toBe(404);
    expect(await status(server, "/v1/messages/billing/1", "g".repeat(32))).toBe(403);
  });

  it("shows one stream with its settings and its consumers' lag", async () => {
    const server = await start({ streamLimits: { bytesMax: 1024 * 1024, discard: "new" } });
    const res = await fetch(`${server.url}/v1/stream/jobs`, {
      method: "PUT",
      headers: { "content-type": "text/plain", "stream-ttl": "600" },
    });
    expect(res.status).toBe(201);
    for (let i = 0; i < 10; i++) await append(server, "jobs", `job ${i}\n`, "text/plain");
    const stream = await server.journal.stream("jobs");
    await stream.consumer("worker").ack(4);
    const detail = await get<StreamDetail>(server, "/v1/streams/jobs");
    expect(detail).toMatchObject({
      name: "jobs",
      records: 10,
      lastSeq: 10,
      contentType: "text/plain",
      closed: false,
      ttlSeconds: 600,
      limits: { bytesMax: 1024 * 1024, discard: "new" },
      tailOffset: "0000000000000000_0000000000000010",
      consumers: [{ name: "worker", position: 4, behind: 6 }],
    });
    expect(detail.expiresAtMs).toBeGreaterThan(Date.now());
    expect(detail.meta).toEqual({}); // the server's own metadata is not repeated
    expect(await status(server, "/v1/streams/__ds/keys")).toBe(404);
    const post = await fetch(`${server.url}/v1/streams/jobs`, { method: "POST" });
    expect(post.status).toBe(405);
  });
});

describe("admin API: /v1/messages", () => {
  it("pages forward and back, from a seq, an offset and a time", async () => {
    const server = await start();
    await create(server, "m");
    for (let i = 1; i <= 30; i++) await append(server, "m", JSON.stringify({ i }));
    const path = "/v1/messages/m";
    const first = await get<MessagePage>(server, `${path}?limit=10`);
    expect(first.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(first).toMatchObject({ firstSeq: 1, lastSeq: 30, next: 10, previous: null });
    expect(first.messages[0]).toMatchObject({
      encoding: "json",
      data: '{"i":1}',
      bytes: 7,
      offset: "0000000000000000_0000000000000001",
      truncated: false,
    });
    const next = await get<MessagePage>(server, `${path}?limit=10&after=${first.next}`);
    expect(next.messages[0]!.seq).toBe(11);
    const newest = await get<MessagePage>(
      server,
      `${path}?limit=10&before=${Number.MAX_SAFE_INTEGER}`,
    );
    expect(newest.messages.map((m) => m.seq)).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
    expect(newest.next).toBeNull();
    const back = await get<MessagePage>(server, `${path}?limit=10&before=${newest.previous}`);
    expect(back.messages.map((m) => m.seq)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    const fromOffset = await get<MessagePage>(
      server,
      `${path}?limit=2&offset=${first.messages[4]!.offset}`,
    );
    expect(fromOffset.messages.map((m) => m.seq)).toEqual([6, 7]);
    const at = next.messages[3]!.timestamp;
    const fromTime = await get<MessagePage>(server, `${path}?limit=1&fromTime=${at}`);
    expect(fromTime.messages[0]!.timestamp).toBeGreaterThanOrEqual(at);
    expect(fromTime.messages[0]!.seq).toBeLessThanOrEqual(14);
    const iso = await get<MessagePage>(
      server,
      `${path}?limit=1&fromTime=${new Date(at).toISOString()}`,
    );
    expect(iso.messages[0]!.seq).toBe(fromTime.messages[0]!.seq);
    for (const bad of ["after=-1", "after=1&before=3", "limit=501", "offset=12", "fromTime=soon"]) {
      expect(await status(server, `${path}?${bad}`), bad).toBe(400);
    }
  });

  it("gives text as text, bytes as base64, and only a preview of a large message", async () => {
    const server = await start();
    await create(server, "t", "text/plain");
    await append(server, "t", "line one\nline two\n", "text/plain");
    await create(server, "b", "application/octet-stream");
    await append(server, "b", new Uint8Array([0, 1, 2, 250, 255]), "application/octet-stream");
    await append(server, "b", "x".repeat(100 * 1024), "application/octet-stream");
    const text = await get<MessagePage>(server, "/v1/messages/t");
    expect(text.messages[0]).toMatchObject({ encoding: "text", data: "line one\nline two\n" });
    const bytes = await get<MessagePage>(server, "/v1/messages/b");
    expect(bytes.messages[0]).toMatchObject({ encoding: "base64", data: "AAEC+v8=", bytes: 5 });
    expect(bytes.messages[1]).toMatchObject({
      encoding: "text",
      truncated: true,
      bytes: 100 * 1024,
    });
    expect(bytes.messages[1]!.data.length).toBe(64 * 1024);
  });
});

describe("stream list selection", () => {
  it("keeps the smallest items, in order, whatever order they are offered in", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 50 })),
        fc.integer({ min: 1, max: 20 }),
        (items, size) => {
          const heap = new BoundedHeap<number>(size, (a, b) => a - b);
          for (const item of items) heap.offer(item);
          expect(heap.sorted()).toEqual([...items].sort((a, b) => a - b).slice(0, size));
        },
      ),
    );
  });
});
