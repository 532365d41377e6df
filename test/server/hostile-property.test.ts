/**
 * Hostile requests, generated (fast-check): random methods, request targets, headers (repeated,
 * malformed, out of range), offsets and bodies (random bytes, invalid UTF-8, deep nesting, JSON
 * of every shape), some of them stalling half-way, sent as raw bytes to a real server. Each is
 * answered with something other than a 5xx (or closed by Node's parser); while it is in flight
 * another client's read still answers; and afterwards the journal holds exactly what a model
 * says the accepted requests wrote: a stream changes only by an append the server acknowledged
 * (JSON checked against JSON.parse, bytes against the body), and no stream appears that was not
 * created by an acknowledged PUT.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../../src/server/server.js";
import { formatOffset } from "../../src/server/streams/offsets.js";
import { parseResponse, type RawResponse, rawConnection } from "../support/raw-http.js";
import { memoryLogger } from "../support/silent-logger.js";
import { tempDir } from "../support/tmp-dir.js";

/** What the journal must hold per stream: its messages (bytes, or JSON values), or a fork. */
type Expected =
  | { kind: "bytes"; messages: Buffer[] }
  | { kind: "json"; values: unknown[] }
  | { kind: "fork" };

let server: RunningServer;
/** Every request sent and its answer, to explain a failure of the final check. */
const history: string[] = [];
const logger = memoryLogger();
const model = new Map<string, Expected>();
const NAMES = ["t", "j", "a/b", "x", "caf\u00e9"];
/** A stream no generated request names: another client reads it while each request runs. */
const PROBE = "probe-zz";

beforeAll(async () => {
  server = await startServer({
    dir: tempDir("tidemark-hostile-fc"),
    port: 0,
    logger,
    longPollTimeoutMs: 50,
    sseLifetimeMs: 100,
    headersTimeoutMs: 1000,
    bodyIdleTimeoutMs: 300,
    bodyBytesInFlightMax: 4 * 1024 * 1024,
  });
  for (const [name, type, body] of [
    ["t", "text/plain", "hello"],
    ["j", "application/json", '[{"n":0}]'],
    [PROBE, "text/plain", "still here"],
  ] as const) {
    const response = await fetch(`${server.url}/v1/stream/${name}`, {
      method: "PUT",
      headers: { "content-type": type },
      body,
    });
    expect(response.status).toBe(201);
    model.set(name, messagesOf(type, Buffer.from(body)));
  }
});
afterAll(async () => {
  await server.stop();
});

function messagesOf(type: string, body: Buffer): Expected {
  if (type.toLowerCase().startsWith("application/json")) {
    const value = JSON.parse(body.toString("utf8")) as unknown;
    return { kind: "json", values: Array.isArray(value) ? value : [value] };
  }
  return { kind: "bytes", messages: body.byteLength === 0 ? [] : [body] };
}

// --- generators -------------------------------------------------------------------------------

const segment = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(...NAMES.map((n) => encodeURIComponent(n).replace("%2F", "/"))),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }).map((s) => encodeURIComponent(s)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "..",
      ".",
      "%2e%2e",
      "%2F",
      "%00",
      "%ZZ",
      "%C0%AF",
      "%E0%A4",
      "a\\b",
      "cafe%CC%81",
      "__ds",
      "__outbox/x",
      "%ED%A0%80",
      "a//b",
      "",
      "x".repeat(300),
    ),
  },
);
const target = fc.oneof(
  { weight: 8, arbitrary: segment.map((s) => `/v1/stream/${s}`) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "/healthz",
      "/metrics",
      "/v1/outbox",
      "/v1/outbox/%ZZ",
      "/v1/outbox/x",
      "*",
      "/",
      "http://evil.example/v1/stream/t",
      "/v1/stream/__ds/subscriptions/s1",
      "/v1/stream/__ds/subscriptions/s1/ack",
      "/v1/stream/__ds/jwks.json",
      "/v1/stream/",
    ),
  },
);
const offset = fc.oneof(
  fc.nat(8).map((n) => formatOffset(n)),
  fc.constantFrom("-1", "now", "0000000000000000_9999999999999999", "abc", "", "1", "-2"),
  fc.string({ maxLength: 20 }),
);
const query = fc
  .record(
    {
      offset,
      live: fc.constantFrom("long-poll", "sse", "sideways", ""),
      cursor: fc.oneof(fc.nat().map(String), fc.constantFrom("1e400", "-1", "x")),
    },
    { requiredKeys: [] },
  )
  .map((q) => {
    const parts = Object.entries(q).map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
    return parts.length === 0 ? "" : `?${parts.join("&")}`;
  });
const headerValue = fc.oneof(
  fc.constantFrom(
    "0",
    "1",
    "-1",
    "007",
    "+60",
    "1e3",
    "60.5",
    "9007199254740992",
    "99999999999999999999",
    "true",
    "TRUE",
    "false",
    "",
    " ",
    "2030-02-30T00:00:00Z",
    "1999-01-01T00:00:00Z",
    "2999-01-01T00:00:00Z",
    "/v1/stream/t",
    "/v1/stream/j",
    "/v1/stream/%ZZ",
    formatOffset(0),
    formatOffset(1),
    formatOffset(99),
    "Bearer x",
  ),
  fc.string({ maxLength: 24 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
);
const contentType = fc.constantFrom(
  "text/plain",
  "application/json",
  "APPLICATION/JSON; charset=utf-8",
  "application/octet-stream",
  "",
  "nonsense",
  "text/plain, application/json",
);
const HEADER_NAMES = [
  "stream-ttl",
  "stream-expires-at",
  "stream-seq",
  "stream-closed",
  "producer-id",
  "producer-epoch",
  "producer-seq",
  "stream-forked-from",
  "stream-fork-offset",
  "stream-fork-sub-offset",
  "if-none-match",
  "authorization",
] as const;
const headers = fc
  .tuple(
    fc.option(contentType, { nil: undefined }),
    fc.array(fc.tuple(fc.constantFrom(...HEADER_NAMES), headerValue), { maxLength: 4 }),
    fc.option(
      fc.tuple(fc.constantFrom("content-type", "stream-ttl", "producer-seq"), headerValue),
      {
        nil: undefined,
      },
    ),
  )
  .map(([type, pairs, duplicate]) => {
    const list: Array<[string, string]> = [];
    if (type !== undefined) list.push(["content-type", type]);
    for (const pair of pairs) list.push(pair);
    if (duplicate !== undefined) list.push(duplicate); // sometimes a header given twice
    return list.filter(
      // A TTL or expiry that is valid would make streams expire during the run.
      ([name, value]) =>
        !(
          (name === "stream-ttl" && /^[1-9]\d{0,3}$/.test(value)) ||
          (name === "stream-expires-at" && value.startsWith("2999"))
        ),
    );
  });
const body = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? "null")),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 60 }).map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      Buffer.from(`${"[".repeat(5000)}${"]".repeat(5000)}`),
      Buffer.from([0x5b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x5d]),
      Buffer.from("[]"),
      Buffer.from(`[${"1,".repeat(2000)}1]`),
      Buffer.from('{"a":1,"a":2}'),
      Buffer.from("123456789012345678901234567890"),
      Buffer.alloc(0),
    ),
  },
);
const hostile = fc.record({
  method: fc.oneof(
    {
      weight: 6,
      arbitrary: fc.constantFrom("GET", "PUT", "POST", "POST", "DELETE", "HEAD", "GET"),
    },
    { weight: 1, arbitrary: fc.constantFrom("OPTIONS", "PATCH", "TRACE", "CONNECT", "FOO") },
  ),
  target,
  query,
  headers,
  body,
  /** Send only part of the body and go quiet. */
  stall: fc.oneof(
    { weight: 12, arbitrary: fc.constant(false) },
    { weight: 1, arbitrary: fc.constant(true) },
  ),
});
type HostileRequest = typeof hostile extends fc.Arbitrary<infer T> ? T : never;

/** Requests a client means (so the journal does change), with a hostile detail now and then. */
const plausible: fc.Arbitrary<HostileRequest> = fc
  .record({
    method: fc.oneof(
      { weight: 6, arbitrary: fc.constant("POST") },
      { weight: 2, arbitrary: fc.constant("GET") },
      { weight: 1, arbitrary: fc.constant("PUT") },
      { weight: 1, arbitrary: fc.constant("HEAD") },
    ),
    name: fc.constantFrom(...NAMES),
    /** Mostly the stream's own type (JSON for `j` and `a/b`), sometimes the other one. */
    json: fc.oneof(
      { weight: 9, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.boolean() },
    ),
    body: fc.oneof(
      fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v) ?? "null")),
      fc
        .array(fc.jsonValue({ maxDepth: 1 }), { minLength: 1, maxLength: 6 })
        .map((v) => Buffer.from(JSON.stringify(v))),
      fc.string({ minLength: 1, maxLength: 30 }).map((t) => Buffer.from(t)),
    ),
    query,
    extra: fc.option(fc.tuple(fc.constantFrom(...HEADER_NAMES), headerValue), { nil: undefined }),
  })
  .map(({ method, name, json, body, query, extra }) => {
    const headers: Array<[string, string]> = [
      ["content-type", json ? "application/json" : "text/plain"],
    ];
    if (extra !== undefined && extra[0] !== "stream-closed" && extra[0] !== "stream-ttl")
      headers.push(extra);
    return {
      method,
      target: `/v1/stream/${encodeURIComponent(name).replace("%2F", "/")}`,
      query: method === "GET" ? query : "",
      headers,
      body: method === "GET" || method === "HEAD" ? Buffer.alloc(0) : body,
      stall: false,
    };
  });
const request = fc.oneof(plausible, hostile);

// --- sending ----------------------------------------------------------------------------------

function encode(r: HostileRequest): Buffer {
  const lines = [
    `${r.method} ${r.target}${r.target.startsWith("/") ? r.query : ""} HTTP/1.1`,
    "Host: x",
  ];
  for (const [name, value] of r.headers) lines.push(`${name}: ${value}`);
  if ((r.method !== "GET" && r.method !== "HEAD") || r.body.byteLength > 0) {
    lines.push(`Content-Length: ${r.body.byteLength + (r.stall ? 10 : 0)}`);
  }
  lines.push("Connection: close");
  return Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), r.body]);
}

async function send(r: HostileRequest): Promise<RawResponse> {
  const connection = rawConnection(Number(new URL(server.url).port), encode(r));
  const deadline = setTimeout(() => connection.socket.destroy(), 10_000);
  await connection.closed;
  clearTimeout(deadline);
  return parseResponse(connection.received());
}

/** Another client, while the hostile request is in flight: it must still be served. */
async function probe(): Promise<void> {
  const health = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(5000) });
  expect(health.status).toBe(200);
  await health.arrayBuffer();
  const read = await fetch(`${server.url}/v1/stream/${PROBE}`, {
    signal: AbortSignal.timeout(5000),
  });
  expect(await read.text()).toBe("still here");
}

// --- the model --------------------------------------------------------------------------------

/** The stream a request names, as the server would decode it (undefined: not a stream path). */
function streamOf(r: HostileRequest): string | undefined {
  const path = r.target.replace(/^http:\/\/[^/]*/, ""); // absolute-form names the same stream
  if (!path.startsWith("/v1/stream/")) return undefined;
  try {
    return decodeURIComponent(path.slice("/v1/stream/".length));
  } catch {
    return undefined;
  }
}

function headerOf(r: HostileRequest, name: string): string | undefined {
  return r.headers.find(([n]) => n === name)?.[1];
}

function update(r: HostileRequest, status: number): void {
  const name = streamOf(r);
  if (name === undefined || status < 200 || status >= 300) return;
  if (r.method === "PUT" && status === 201) {
    if (headerOf(r, "stream-forked-from") !== undefined) model.set(name, { kind: "fork" });
    else model.set(name, messagesOf(headerOf(r, "content-type") ?? "", r.body));
  } else if (r.method === "DELETE" && status === 204) {
    model.delete(name);
  } else if (r.method === "POST") {
    const producer = headerOf(r, "producer-id") !== undefined;
    const appended = status === 200 || (status === 204 && !producer && r.body.byteLength > 0);
    const expected = model.get(name);
    if (!appended || expected === undefined || expected.kind === "fork") return;
    const added = messagesOf(expected.kind === "json" ? "application/json" : "", r.body);
    if (expected.kind === "json" && added.kind === "json") expected.values.push(...added.values);
    if (expected.kind === "bytes" && added.kind === "bytes")
      expected.messages.push(...added.messages);
  }
}

function explain(name: string): string {
  return history
    .filter((line) => line.includes(encodeURIComponent(name).replace("%2F", "/")))
    .join("\n");
}

async function checkJournal(): Promise<void> {
  const names = server.journal.list().filter((n) => !n.startsWith("__"));
  for (const name of names) {
    if (model.has(name)) continue;
    // Deleted while forks read through it: kept, soft-deleted, and nothing else.
    const meta = (await server.journal.stream(name)).meta as { ds?: { softDeleted?: boolean } };
    expect(meta.ds?.softDeleted, `${name} is in the journal but no PUT created it`).toBe(true);
  }
  for (const name of model.keys()) {
    expect(names, `${name}; requests naming it:\n${explain(name)}`).toContain(name);
  }
  for (const [name, expected] of model) {
    if (expected.kind === "fork") continue;
    const stream = await server.journal.stream(name);
    const payloads: Buffer[] = [];
    for await (const record of stream.read()) payloads.push(Buffer.from(record.payload));
    if (expected.kind === "bytes") {
      expect(Buffer.concat(payloads).toString("hex"), name).toBe(
        Buffer.concat(expected.messages).toString("hex"),
      );
    } else {
      expect(
        payloads.map((p) => JSON.parse(p.toString("utf8")) as unknown),
        name,
      ).toEqual(expected.values);
    }
  }
}

describe("hostile requests, generated", () => {
  it("never answer 5xx, never stall another client, and change the journal only by valid appends", async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const [response] = await Promise.all([send(r), probe()]);
        const label = `${r.method} ${r.target}${r.query} ${JSON.stringify(r.headers)} → ${response.status}`;
        expect(response.status >= 200 && response.status < 500, label).toBe(true);
        // A body that never completes cannot have been appended or created from.
        if (r.stall && streamOf(r) !== undefined && (r.method === "POST" || r.method === "PUT")) {
          expect(response.status >= 300, label).toBe(true);
        }
        update(r, response.status);
        history.push(label);
      }),
      {
        numRuns: 400,
        interruptAfterTimeLimit: 150_000,
        ...(process.env["FC_SEED"] ? { seed: Number(process.env["FC_SEED"]) } : {}),
      },
    );
    await checkJournal();
    expect(logger.lines.filter((line) => line.level === "error")).toEqual([]);
  }, 200_000);
});
