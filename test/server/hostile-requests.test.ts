/**
 * Requests as an attacker (or a confused client) sends them, one case of issue 14 each: bad
 * input is a typed 4xx, never a 500; offsets are ones the server issued; a request means one
 * thing (duplicate headers, expiry values, numeric syntax, PUT bodies, names); the parser's own
 * refusals get the status that says what happened.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type RunningServer, type ServerOptions, startServer } from "../../src/server/server.js";
import { formatOffset } from "../../src/server/streams/offsets.js";
import { errorCode, rawConnection, rawRequest } from "../support/raw-http.js";
import { memoryLogger } from "../support/silent-logger.js";
import { tempDir } from "../support/tmp-dir.js";

const running: RunningServer[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) await server.stop();
});

async function start(options: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const server = await startServer({
    dir: tempDir("tidemark-hostile"),
    port: 0,
    logger: memoryLogger(),
    longPollTimeoutMs: 200,
    sseLifetimeMs: 300,
    ...options,
  });
  running.push(server);
  return server;
}

const portOf = (server: RunningServer) => Number(new URL(server.url).port);
const at = (server: RunningServer, path: string) => `${server.url}/v1/stream/${path}`;

async function answer(response: Response): Promise<{ status: number; code?: string }> {
  const text = await response.text();
  if (response.status < 400) return { status: response.status };
  return {
    status: response.status,
    code: (JSON.parse(text) as { error: { code: string } }).error.code,
  };
}

async function put(server: RunningServer, path: string, type: string, body?: string) {
  const response = await fetch(at(server, path), {
    method: "PUT",
    headers: { "content-type": type },
    ...(body === undefined ? {} : { body }),
  });
  expect(response.status).toBe(201);
  return response.headers.get("stream-next-offset")!;
}

describe("never a 500 for bad input", () => {
  it("answers a JSON body nested 4,100 levels deep with 400 JSON_TOO_DEEP", async () => {
    const server = await start();
    await put(server, "deep", "application/json");
    const body = `${"[".repeat(4100)}${"]".repeat(4100)}`;
    const response = await fetch(at(server, "deep"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    expect(await answer(response)).toEqual({ status: 400, code: "JSON_TOO_DEEP" });
    const created = await fetch(at(server, "deep2"), {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body,
    });
    expect(await answer(created)).toEqual({ status: 400, code: "JSON_TOO_DEEP" });
    expect(await (await fetch(at(server, "deep"))).text()).toBe("[]");
    expect((await fetch(at(server, "deep2"))).status).toBe(404);
  });

  it("answers malformed percent-encoding with 400 INVALID_NAME, outbox paths included", async () => {
    const server = await start();
    for (const path of [
      "/v1/outbox/%ZZ",
      "/v1/outbox/%E0%A4",
      "/v1/stream/%ZZ",
      "/v1/stream/a/%C0%AF",
    ]) {
      expect(await answer(await fetch(`${server.url}${path}`)), path).toEqual({
        status: 400,
        code: "INVALID_NAME",
      });
    }
  });
});

describe("offsets are ones the server issued", () => {
  it("refuses an offset above 2^53 with 400 OFFSET_PAST_TAIL, in every read mode", async () => {
    const server = await start();
    await put(server, "s", "text/plain", "abc");
    const huge = "0000000000000000_9999999999999999";
    for (const live of ["", "&live=long-poll", "&live=sse"]) {
      const response = await fetch(`${at(server, "s")}?offset=${huge}${live}`);
      expect(await answer(response), live).toEqual({ status: 400, code: "OFFSET_PAST_TAIL" });
    }
  });

  it("refuses an offset past the tail instead of answering up to date and skipping later", async () => {
    const server = await start();
    for (const body of ["a", "b", "c"]) {
      await put(server, "t", "text/plain").catch(() => undefined);
      await fetch(at(server, "t"), {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body,
      });
    }
    const ahead = formatOffset(5); // the tail is 3
    for (const live of ["", "&live=long-poll", "&live=sse"]) {
      const response = await fetch(`${at(server, "t")}?offset=${ahead}${live}`);
      expect(await answer(response), live).toEqual({ status: 400, code: "OFFSET_PAST_TAIL" });
    }
    for (const body of ["d", "e", "f"]) {
      await fetch(at(server, "t"), {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body,
      });
    }
    // Now the offset exists; reading from it gives what follows it, nothing skipped silently.
    expect(await (await fetch(`${at(server, "t")}?offset=${ahead}`)).text()).toBe("f");
    expect(await (await fetch(`${at(server, "t")}?offset=${formatOffset(3)}`)).text()).toBe("def");
  });

  it("answers a malformed offset with INVALID_REQUEST, as documented", async () => {
    const server = await start();
    await put(server, "s", "text/plain");
    for (const offset of [
      "abc",
      "-2",
      "1",
      "0000000000000000_000000000000000x",
      "0000000000000001_0000000000000000",
    ]) {
      const response = await fetch(`${at(server, "s")}?offset=${offset}`);
      expect(await answer(response), offset).toEqual({ status: 400, code: "INVALID_REQUEST" });
    }
  });
});

describe("one meaning per request", () => {
  it("refuses a protocol header given twice with different values, and takes a repeat of one value", async () => {
    const server = await start();
    const port = portOf(server);
    const conflicting = await rawRequest(
      port,
      "PUT /v1/stream/dup HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Type: application/json\r\nContent-Length: 0",
    );
    expect([conflicting.status, errorCode(conflicting)]).toEqual([400, "INVALID_REQUEST"]);
    expect((await fetch(at(server, "dup"))).status).toBe(404);
    const ttl = await rawRequest(
      port,
      "PUT /v1/stream/dup HTTP/1.1\r\nHost: x\r\nStream-TTL: 60\r\nStream-TTL: 3600\r\nContent-Length: 0",
    );
    expect([ttl.status, errorCode(ttl)]).toEqual([400, "INVALID_REQUEST"]);
    const same = await rawRequest(
      port,
      "PUT /v1/stream/dup HTTP/1.1\r\nHost: x\r\nStream-TTL: 60\r\nStream-TTL: 60\r\nContent-Type: text/plain\r\nContent-Type: text/plain\r\nContent-Length: 0",
    );
    expect(same.status).toBe(201);
    expect(same.headers["content-type"]).toBe("text/plain");
    const head = await fetch(at(server, "dup"), { method: "HEAD" });
    expect(head.headers.get("stream-ttl")).toBe("60");
  });

  it("refuses TTLs and expiry times that expire at once or are not real times", async () => {
    const server = await start();
    const cases: Array<[Record<string, string>, string]> = [
      [{ "stream-ttl": "0" }, "INVALID_TTL"],
      [{ "stream-ttl": "060" }, "INVALID_TTL"],
      [{ "stream-ttl": "400000000" }, "INVALID_TTL"],
      [{ "stream-expires-at": new Date(Date.now() - 1000).toISOString() }, "INVALID_EXPIRES_AT"],
      [{ "stream-expires-at": "2030-02-30T00:00:00Z" }, "INVALID_EXPIRES_AT"],
      [{ "stream-expires-at": "2031-02-29T00:00:00Z" }, "INVALID_EXPIRES_AT"],
      [{ "stream-expires-at": "2030-01-01T24:00:00Z" }, "INVALID_EXPIRES_AT"],
      [{ "stream-expires-at": "2030-01-01T12:00:60Z" }, "INVALID_EXPIRES_AT"],
      [{ "stream-expires-at": "2030-01-01T12:00:00+24:00" }, "INVALID_EXPIRES_AT"],
    ];
    for (const [headers, code] of cases) {
      const response = await fetch(at(server, "e"), { method: "PUT", headers });
      expect(await answer(response), JSON.stringify(headers)).toEqual({ status: 400, code });
    }
    expect((await fetch(at(server, "e"))).status).toBe(404);
    const leap = await fetch(at(server, "e"), {
      method: "PUT",
      headers: { "stream-expires-at": "2032-02-29T23:59:59.5+01:00" },
    });
    expect(leap.status).toBe(201);
    expect((await fetch(at(server, "e"))).status).toBe(200);
  });

  it("reads every numeric header with one strict integer syntax", async () => {
    const server = await start();
    await put(server, "p", "text/plain", "hello");
    const producer = (epoch: string, seq: string) =>
      fetch(at(server, "p"), {
        method: "POST",
        headers: {
          "content-type": "text/plain",
          "producer-id": "w",
          "producer-epoch": epoch,
          "producer-seq": seq,
        },
        body: "x",
      });
    for (const [epoch, seq] of [
      ["007", "0"],
      ["0", "00"],
      ["+1", "0"],
      ["1e3", "0"],
      ["9007199254740992", "0"],
    ]) {
      expect(await answer(await producer(epoch!, seq!)), `${epoch}/${seq}`).toEqual({
        status: 400,
        code: "INVALID_PRODUCER",
      });
    }
    expect((await producer("7", "0")).status).toBe(200);
    const fork = await fetch(at(server, "f"), {
      method: "PUT",
      headers: {
        "stream-forked-from": "/v1/stream/p",
        "stream-fork-offset": formatOffset(0),
        "stream-fork-sub-offset": "02",
      },
    });
    expect(await answer(fork)).toEqual({ status: 400, code: "INVALID_SUB_OFFSET" });
  });

  it("answers a PUT with a body on an existing stream 200 only as a retry of its creation", async () => {
    const server = await start();
    await put(server, "b", "text/plain", "first");
    const again = (body?: string) =>
      fetch(at(server, "b"), {
        method: "PUT",
        headers: { "content-type": "text/plain" },
        ...(body === undefined ? {} : { body }),
      });
    expect((await again("first")).status).toBe(200); // the same PUT, retried
    expect((await again()).status).toBe(200); // no content to drop
    expect(await answer(await again("second"))).toEqual({ status: 409, code: "STREAM_EXISTS" });
    expect(await (await fetch(at(server, "b"))).text()).toBe("first");
    // A stream made without a body takes no body later either.
    await put(server, "j", "application/json");
    const json = (body: string) =>
      fetch(at(server, "j"), {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body,
      });
    expect((await json("[]")).status).toBe(200); // no messages
    expect(await answer(await json("[1]"))).toEqual({ status: 409, code: "STREAM_EXISTS" });
    expect(await (await fetch(at(server, "j"))).text()).toBe("[]");
  });
});

describe("one name, one stream", () => {
  it("refuses names not in Unicode NFC and keeps NFC names as they are", async () => {
    const server = await start();
    const nfd = encodeURIComponent("cafe\u0301");
    const nfc = encodeURIComponent("caf\u00e9");
    expect(await answer(await fetch(at(server, nfd), { method: "PUT" }))).toEqual({
      status: 400,
      code: "INVALID_NAME",
    });
    expect((await fetch(at(server, nfc), { method: "PUT" })).status).toBe(201);
    expect(await answer(await fetch(at(server, nfd)))).toEqual({
      status: 400,
      code: "INVALID_NAME",
    });
    expect(server.journal.list()).toContain("caf\u00e9");
  });

  it("keeps a backslash as itself, and refuses dot segments instead of resolving them", async () => {
    const server = await start();
    const port = portOf(server);
    const created = await rawRequest(
      port,
      "PUT /v1/stream/a\\b HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1",
      "x",
    );
    expect(created.status).toBe(201);
    expect(server.journal.list()).toContain("a\\b");
    expect((await fetch(at(server, "a/b"))).status).toBe(404);
    expect(await (await fetch(at(server, "a%5Cb"))).text()).toBe("x");
    for (const path of ["a/../b", "a/./b", "a/%2e%2e/b", ".."]) {
      const response = await rawRequest(port, `GET /v1/stream/${path} HTTP/1.1\r\nHost: x`);
      expect([response.status, errorCode(response)], path).toEqual([400, "INVALID_NAME"]);
    }
  });
});

describe("the parser's refusals say what happened", () => {
  it("answers headers over the size limit with 431", async () => {
    const server = await start();
    const response = await rawRequest(
      portOf(server),
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(100 * 1024)}`,
    );
    expect([response.status, errorCode(response)]).toEqual([431, "HEADERS_TOO_LARGE"]);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it("answers headers that never finish, and a body that stalls, with 408", async () => {
    const server = await start({ headersTimeoutMs: 300, bodyIdleTimeoutMs: 300 });
    await put(server, "s", "text/plain");
    const port = portOf(server);
    const slowHeaders = rawConnection(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    const stalledBody = rawConnection(
      port,
      "POST /v1/stream/s HTTP/1.1\r\nHost: x\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\nab",
    );
    await Promise.all([slowHeaders.closed, stalledBody.closed]);
    expect(slowHeaders.status()).toBe(408);
    expect(stalledBody.status()).toBe(408);
    expect(stalledBody.received()).toContain("REQUEST_TIMEOUT");
    expect(await (await fetch(at(server, "s"))).text()).toBe(""); // nothing appended
  });

  it("answers CONNECT with 405 instead of dropping the connection", async () => {
    const server = await start();
    const response = await rawRequest(
      portOf(server),
      "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443",
    );
    expect([response.status, errorCode(response)]).toEqual([405, "METHOD_NOT_ALLOWED"]);
    expect(response.headers["allow"]).toContain("GET");
  });
});

describe("subscription workers with auth on", () => {
  const admin = "a".repeat(32);
  const auth = { tokens: [{ token: admin, scopes: [{ prefix: "", access: "write" as const }] }] };

  it("tell a stale wake token FENCED, any other token 401, and refuse acks past the tail", async () => {
    const server = await start({ auth });
    const as = (token: string | undefined, init: RequestInit = {}): RequestInit => ({
      ...init,
      headers: {
        "content-type": "application/json",
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
    });
    const sub = `${server.url}/v1/stream/__ds/subscriptions/jobs`;
    for (const path of ["work", "wake"]) {
      await fetch(at(server, path), as(admin, { method: "PUT" }));
    }
    const created = await fetch(
      sub,
      as(admin, {
        method: "PUT",
        body: JSON.stringify({ type: "pull-wake", streams: ["work"], wake_stream: "wake" }),
      }),
    );
    expect(created.status).toBe(201);
    await fetch(at(server, "work"), as(admin, { method: "POST", body: '{"job":1}' }));
    const claim = async () => {
      const response = await fetch(
        `${sub}/claim`,
        as(admin, { method: "POST", body: JSON.stringify({ worker: "w" }) }),
      );
      expect(response.status).toBe(200);
      return (await response.json()) as { wake_id: string; generation: number; token: string };
    };
    const first = await claim();
    const wake = (w: typeof first) =>
      JSON.stringify({ wake_id: w.wake_id, generation: w.generation });
    expect(
      (await fetch(`${sub}/release`, as(first.token, { method: "POST", body: wake(first) })))
        .status,
    ).toBe(204);
    const second = await claim();
    const stale = await fetch(`${sub}/ack`, as(first.token, { method: "POST", body: wake(first) }));
    expect(await answer(stale)).toEqual({ status: 409, code: "FENCED" });
    for (const token of [undefined, "x".repeat(32), admin]) {
      for (const id of ["jobs", "no-such-subscription"]) {
        const response = await fetch(
          `${server.url}/v1/stream/__ds/subscriptions/${id}/ack`,
          as(token, { method: "POST", body: wake(second) }),
        );
        expect(await answer(response), `${token} ${id}`).toEqual({
          status: 401,
          code: "UNAUTHORIZED",
        });
      }
    }
    const past = await fetch(
      `${sub}/ack`,
      as(second.token, {
        method: "POST",
        body: JSON.stringify({
          ...JSON.parse(wake(second)),
          acks: [{ stream: "work", offset: formatOffset(9) }],
        }),
      }),
    );
    expect(await answer(past)).toEqual({ status: 400, code: "OFFSET_PAST_TAIL" });
    const ok = await fetch(
      `${sub}/ack`,
      as(second.token, {
        method: "POST",
        body: JSON.stringify({
          ...JSON.parse(wake(second)),
          acks: [{ stream: "work", offset: formatOffset(1) }],
        }),
      }),
    );
    expect(ok.status).toBe(200);
  });
});
