/**
 * The admin API's stream views on two `tidemark serve --nats` processes sharing one nats-server:
 * streams made through one are listed, detailed and browsed through the other (the list reads
 * JetStream, not what a process has opened), pages by name cover every stream exactly once, the
 * token's scopes filter the list, a stream deleted but kept for its fork is left out, and trim
 * answers 501 NOT_SUPPORTED.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MessagePage, StreamDetail, StreamPage } from "../../src/server/admin/wire-types.js";
import { type NatsServer, startNatsServer } from "../support/nats.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import { tempDir } from "../support/tmp-dir.js";

const ADMIN = "a".repeat(32);
const SOME = "s".repeat(32);

describe("admin views on two processes sharing JetStream", () => {
  let nats: NatsServer | undefined;
  let a: ServerProcess;
  let b: ServerProcess;
  beforeAll(async () => {
    nats = await startNatsServer();
    const config = join(tempDir("tidemark-admin-js-config"), "tidemark.json");
    writeFileSync(
      config,
      JSON.stringify({
        auth: {
          tokens: [
            { name: "admin", token: ADMIN, scopes: [{ prefix: "", access: "write" }] },
            { name: "some", token: SOME, scopes: [{ prefix: "many/01", access: "read" }] },
          ],
        },
      }),
    );
    const args = ["--nats", nats.url, "--config", config];
    a = await startServerProcess(tempDir("tidemark-admin-js-a"), args);
    b = await startServerProcess(tempDir("tidemark-admin-js-b"), args);
  }, 120_000);
  afterAll(async () => {
    for (const server of [a, b]) {
      server?.child.process.kill("SIGTERM");
      await server?.child.exited;
    }
    await nats?.stop();
  });

  const call = (
    url: string,
    method: string,
    path: string,
    options: { body?: string; headers?: Record<string, string>; token?: string } = {},
  ) =>
    fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${options.token ?? ADMIN}`, ...options.headers },
      ...(options.body === undefined ? {} : { body: options.body }),
    });
  const json = async <T>(url: string, path: string, token?: string): Promise<T> => {
    const res = await call(url, "GET", path, token === undefined ? {} : { token });
    expect(res.status, `${path}: ${res.status}`).toBe(200);
    return (await res.json()) as T;
  };
  const put = (url: string, path: string, headers: Record<string, string> = {}) =>
    call(url, "PUT", `/v1/stream/${path}`, {
      headers: { "content-type": "text/plain", ...headers },
    });
  const post = (url: string, path: string, body: string, type = "text/plain") =>
    call(url, "POST", `/v1/stream/${path}`, { body, headers: { "content-type": type } });

  it("lists, details and browses through one process the streams made through the other", async () => {
    expect((await put(a.url, "shared/json", { "content-type": "application/json" })).status).toBe(
      201,
    );
    expect((await put(a.url, "shared/ttl", { "stream-ttl": "3600" })).status).toBe(201);
    const bodies: string[] = [];
    for (let i = 0; i < 12; i++) {
      const body = JSON.stringify({ i, who: i % 2 === 0 ? "a" : "b" });
      bodies.push(body);
      // Alternating processes: the records land in separate JetStream messages (gaps in seqs).
      const res = await post(i % 2 === 0 ? a.url : b.url, "shared/json", body, "application/json");
      expect(res.status).toBe(204);
    }
    const tail = (await call(b.url, "HEAD", "/v1/stream/shared/json")).headers.get(
      "stream-next-offset",
    );

    // The list on b holds what a made, from JetStream's metadata.
    const page = await json<StreamPage>(b.url, "/v1/streams?prefix=shared/");
    // (shared/batch is made further down.)
    expect(page.store).toBe("jetstream");
    expect(page.sorts).toEqual(["name"]);
    expect(page.total).toBe(2);
    expect(page.next).toBeNull();
    expect(page.streams.map((row) => row.name)).toEqual(["shared/json", "shared/ttl"]);
    const [jsonRow, ttlRow] = page.streams;
    expect(jsonRow).toMatchObject({
      contentType: "application/json",
      records: null,
      bytes: null,
      closed: null,
      retention: null,
      limits: {},
      fork: null,
      ttlSeconds: null,
      expiresAtMs: null,
    });
    expect(ttlRow!.ttlSeconds).toBe(3600);
    expect(ttlRow!.expiresAtMs).toBeGreaterThan(Date.now() + 3500_000);

    // The detail on b knows the records a and b appended.
    const detail = await json<StreamDetail>(b.url, "/v1/streams/shared/json");
    const payloadBytes = bodies.reduce((sum, body) => sum + Buffer.byteLength(body), 0);
    expect(detail).toMatchObject({
      name: "shared/json",
      store: "jetstream",
      records: 12,
      bytes: payloadBytes,
      closed: false,
      consumers: null,
      trimmable: false,
      retention: null,
      tailOffset: tail,
      liveWaiters: 0,
    });
    expect(detail.lastSeq).toBeGreaterThan(detail.firstSeq);
    expect(detail.lastAppendAt).toBeGreaterThan(Date.now() - 60_000);
    // a's view agrees (it made the stream and saw b's appends only by catching up).
    const onA = await json<StreamDetail>(a.url, "/v1/streams/shared/json");
    expect({ ...onA, lastAppendAt: 0 }).toEqual({ ...detail, lastAppendAt: 0 });

    // Messages: the whole stream in order, then pages forward and back across the gaps.
    const all = await json<MessagePage>(b.url, "/v1/messages/shared/json");
    expect(all.messages.map((m) => m.data)).toEqual(bodies);
    expect(all.messages.every((m) => m.encoding === "json")).toBe(true);
    expect(all.firstSeq).toBe(all.messages[0]!.seq);
    expect(all.lastSeq).toBe(all.messages.at(-1)!.seq);
    expect(all.messages.at(-1)!.offset).toBe(tail);
    expect(all.next).toBeNull();
    expect(all.previous).toBeNull();
    const seqs = all.messages.map((m) => m.seq);

    const first = await json<MessagePage>(b.url, "/v1/messages/shared/json?limit=5");
    expect(first.messages.map((m) => m.seq)).toEqual(seqs.slice(0, 5));
    expect(first.next).toBe(seqs[4]);
    const second = await json<MessagePage>(
      b.url,
      `/v1/messages/shared/json?limit=5&after=${first.next}`,
    );
    expect(second.messages.map((m) => m.seq)).toEqual(seqs.slice(5, 10));
    const newest = await json<MessagePage>(
      b.url,
      `/v1/messages/shared/json?limit=5&before=${Number.MAX_SAFE_INTEGER}`,
    );
    expect(newest.messages.map((m) => m.seq)).toEqual(seqs.slice(7));
    expect(newest.previous).toBe(seqs[7]);
    const older = await json<MessagePage>(
      a.url,
      `/v1/messages/shared/json?limit=5&before=${newest.previous}`,
    );
    expect(older.messages.map((m) => m.seq)).toEqual(seqs.slice(2, 7));
    const oldest = await json<MessagePage>(
      a.url,
      `/v1/messages/shared/json?limit=5&before=${seqs[2]}`,
    );
    expect(oldest.messages.map((m) => m.seq)).toEqual(seqs.slice(0, 2));
    expect(oldest.previous).toBeNull();
    const fromOffset = await json<MessagePage>(
      b.url,
      `/v1/messages/shared/json?offset=${all.messages[8]!.offset}`,
    );
    expect(fromOffset.messages.map((m) => m.data)).toEqual(bodies.slice(9));
    const fromTime = await json<MessagePage>(
      b.url,
      `/v1/messages/shared/json?fromTime=${all.messages[6]!.timestamp}`,
    );
    expect(fromTime.messages[0]!.seq).toBeLessThanOrEqual(seqs[6]!);
    expect(fromTime.messages.map((m) => m.data)).toEqual(
      bodies.slice(seqs.indexOf(fromTime.messages[0]!.seq)),
    );

    // JSON arrays: several records in one JetStream message, paged back across and within them.
    expect((await put(a.url, "shared/batch", { "content-type": "application/json" })).status).toBe(
      201,
    );
    expect((await post(a.url, "shared/batch", "[1,2,3,4,5]", "application/json")).status).toBe(204);
    expect((await post(b.url, "shared/batch", "[6,7]", "application/json")).status).toBe(204);
    const pagesBack: string[][] = [];
    let before = Number.MAX_SAFE_INTEGER;
    for (let pages = 0; pages < 5; pages++) {
      const back = await json<MessagePage>(
        pages % 2 === 0 ? a.url : b.url,
        `/v1/messages/shared/batch?limit=3&before=${before}`,
      );
      pagesBack.push(back.messages.map((m) => m.data));
      if (back.previous === null) break;
      before = back.previous;
    }
    expect(pagesBack).toEqual([["5", "6", "7"], ["2", "3", "4"], ["1"]]);
    expect((await json<StreamDetail>(b.url, "/v1/streams/shared/batch")).records).toBe(7);

    // A close through a shows in b's detail.
    expect(
      (
        await call(a.url, "POST", "/v1/stream/shared/json", {
          headers: { "content-type": "application/json", "stream-closed": "true" },
        })
      ).status,
    ).toBe(204);
    expect((await json<StreamDetail>(b.url, "/v1/streams/shared/json")).closed).toBe(true);
  });

  it("pages by name over more streams than a page, every one exactly once, both orders", async () => {
    const names = Array.from({ length: 57 }, (_, i) => `many/${String(i).padStart(3, "0")}`);
    for (let i = 0; i < names.length; i += 8) {
      const answers = await Promise.all(
        names.slice(i, i + 8).map((name, j) => put(j % 2 === 0 ? a.url : b.url, name)),
      );
      expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 201));
    }
    for (const [order, expected] of [
      ["asc", names],
      ["desc", [...names].reverse()],
    ] as const) {
      const seen: string[] = [];
      let after = "";
      for (let pages = 0; pages < 10; pages++) {
        const page = await json<StreamPage>(
          pages % 2 === 0 ? a.url : b.url,
          `/v1/streams?prefix=many/&limit=20&order=${order}&after=${encodeURIComponent(after)}`,
        );
        expect(page.total).toBe(57);
        seen.push(...page.streams.map((row) => row.name));
        if (page.next === null) break;
        expect(page.streams).toHaveLength(20);
        after = page.next;
      }
      expect(seen).toEqual(expected);
    }
    const bySize = await call(a.url, "GET", "/v1/streams?sort=records");
    expect(bySize.status).toBe(400);
    expect(((await bySize.json()) as { error: { code: string } }).error.code).toBe(
      "INVALID_REQUEST",
    );
  });

  it("filters the list by the token's scopes", async () => {
    const page = await json<StreamPage>(b.url, "/v1/streams?limit=1000", SOME);
    // many/010 to many/019: the token reads "many/01…" only.
    const expected = Array.from({ length: 10 }, (_, i) => `many/01${i}`);
    expect(page.streams.map((row) => row.name)).toEqual(expected);
    expect(page.total).toBe(expected.length);
    expect((await call(b.url, "GET", "/v1/streams/shared/ttl", { token: SOME })).status).toBe(403);
  });

  it("leaves out a stream deleted while a fork made through the other process reads through it", async () => {
    expect((await put(a.url, "forks/source")).status).toBe(201);
    expect((await post(a.url, "forks/source", "inherited")).status).toBe(204);
    expect(
      (await put(b.url, "forks/child", { "stream-forked-from": "/v1/stream/forks/source" })).status,
    ).toBe(201);
    expect((await call(b.url, "DELETE", "/v1/stream/forks/source")).status).toBe(204);
    for (const server of [a, b]) {
      const page = await json<StreamPage>(server.url, "/v1/streams?prefix=forks/");
      expect(page.streams.map((row) => row.name)).toEqual(["forks/child"]);
      expect(page.streams[0]!.fork?.source).toBe("forks/source");
    }
    const child = await json<StreamDetail>(a.url, "/v1/streams/forks/child");
    expect(child.fork?.source).toBe("forks/source");
    expect(child.records).toBe(0);
  });

  it("answers trim with 501 NOT_SUPPORTED, and harms nothing", async () => {
    const res = await call(a.url, "POST", "/v1/streams/shared/ttl/trim", {
      body: '{"before": 2}',
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(501);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("NOT_SUPPORTED");
    expect(body.error.message).toContain("JetStream");
    expect((await call(b.url, "GET", "/v1/streams/shared/ttl")).status).toBe(200);
    const missing = await call(b.url, "POST", "/v1/streams/no/such/trim", {
      body: '{"before": 2}',
    });
    expect(missing.status).toBe(404);
  });
});
