/**
 * The auth matrix: every endpoint of the server, asked by four callers (no token, a read-only
 * token over everything, a token scoped to `team-a/`, an admin token), each answered with the
 * expected status. Without a token every authenticated endpoint answers 401 before anything
 * shows whether what it names exists; outside a token's scopes, 403, also before any lookup.
 * Adding an endpoint is adding a row to ENDPOINTS.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../../src/server/server.js";
import { formatOffset } from "../../src/server/streams/offsets.js";
import { memoryLogger } from "../support/silent-logger.js";
import { tempDir } from "../support/tmp-dir.js";

const TOKENS = {
  none: undefined,
  reader: "r".repeat(32),
  scoped: "s".repeat(32),
  admin: "a".repeat(32),
} as const;
type Caller = keyof typeof TOKENS;
const CALLERS = Object.keys(TOKENS) as Caller[];

const auth = {
  tokens: [
    { name: "reader", token: TOKENS.reader, scopes: [{ prefix: "", access: "read" as const }] },
    {
      name: "scoped",
      token: TOKENS.scoped,
      scopes: [
        { prefix: "team-a/", access: "write" as const },
        { prefix: "__ds/", access: "write" as const },
      ],
    },
    { name: "admin", token: TOKENS.admin, scopes: [{ prefix: "", access: "write" as const }] },
  ],
};

interface Endpoint {
  name: string;
  /** Run as admin before the request; `id` is fresh for every (endpoint, caller) pair. */
  setup?: (id: string) => Promise<unknown>;
  method: string;
  path: (id: string) => string;
  headers?: Record<string, string>;
  body?: (id: string) => string;
  /** Expected status for [none, reader, scoped, admin]. */
  expect: [number, number, number, number];
}

let server: RunningServer;
const text = { "content-type": "text/plain" };
const json = { "content-type": "application/json" };

async function asAdmin(method: string, path: string, headers = {}, body?: string) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { ...headers, authorization: `Bearer ${TOKENS.admin}` },
    ...(body === undefined ? {} : { body }),
  });
  await response.arrayBuffer();
  expect(response.status, `setup ${method} ${path}`).toBeLessThan(300);
  return response;
}

const stream = (path: string) => asAdmin("PUT", `/v1/stream/${path}`, text, "data");
const subscription = (id: string, body: object) =>
  asAdmin("PUT", `/v1/stream/__ds/subscriptions/${id}`, json, JSON.stringify(body));
const pullWake = async (id: string) => {
  await stream(`team-a/${id}`);
  await stream(`team-a/${id}-wake`);
  await subscription(id, {
    type: "pull-wake",
    streams: [`team-a/${id}`],
    wake_stream: `team-a/${id}-wake`,
  });
  await asAdmin("POST", `/v1/stream/team-a/${id}`, text, "more"); // pending work
};
const worker = (action: string, exists: boolean): Endpoint => ({
  name: `POST a subscription's ${action} with no wake token (${exists ? "existing" : "unknown"} id)`,
  ...(exists ? { setup: pullWake } : {}),
  method: "POST",
  path: (id) => `/v1/stream/__ds/subscriptions/${id}/${action}`,
  headers: json,
  body: () => JSON.stringify({ wake_id: "w_x", generation: 1 }),
  expect: [401, 401, 401, 401],
});

const ENDPOINTS: Endpoint[] = [
  { name: "GET /healthz", method: "GET", path: () => "/healthz", expect: [200, 200, 200, 200] },
  {
    name: "OPTIONS preflight",
    method: "OPTIONS",
    path: (id) => `/v1/stream/team-b/${id}`,
    expect: [204, 204, 204, 204],
  },
  { name: "GET /metrics", method: "GET", path: () => "/metrics", expect: [401, 200, 403, 200] },
  {
    name: "PUT a stream in scope",
    method: "PUT",
    path: (id) => `/v1/stream/team-a/${id}`,
    expect: [401, 403, 201, 201],
  },
  {
    name: "PUT a stream out of scope",
    method: "PUT",
    path: (id) => `/v1/stream/team-b/${id}`,
    expect: [401, 403, 403, 201],
  },
  {
    name: "POST to a stream in scope",
    setup: (id) => stream(`team-a/${id}`),
    method: "POST",
    path: (id) => `/v1/stream/team-a/${id}`,
    headers: text,
    body: () => "x",
    expect: [401, 403, 204, 204],
  },
  {
    name: "POST to a stream out of scope",
    setup: (id) => stream(`team-b/${id}`),
    method: "POST",
    path: (id) => `/v1/stream/team-b/${id}`,
    headers: text,
    body: () => "x",
    expect: [401, 403, 403, 204],
  },
  {
    name: "GET (catch-up) a stream in scope",
    setup: (id) => stream(`team-a/${id}`),
    method: "GET",
    path: (id) => `/v1/stream/team-a/${id}?offset=-1`,
    expect: [401, 200, 200, 200],
  },
  {
    name: "GET (catch-up) a stream out of scope",
    setup: (id) => stream(`team-b/${id}`),
    method: "GET",
    path: (id) => `/v1/stream/team-b/${id}?offset=-1`,
    expect: [401, 200, 403, 200],
  },
  {
    name: "GET (long-poll) a stream out of scope",
    setup: (id) => stream(`team-b/${id}`),
    method: "GET",
    path: (id) => `/v1/stream/team-b/${id}?offset=-1&live=long-poll`,
    expect: [401, 200, 403, 200],
  },
  {
    name: "GET (SSE) a stream out of scope",
    setup: (id) => stream(`team-b/${id}`),
    method: "GET",
    path: (id) => `/v1/stream/team-b/${id}?offset=-1&live=sse`,
    expect: [401, 200, 403, 200],
  },
  {
    name: "GET a stream that does not exist, out of scope",
    method: "GET",
    path: (id) => `/v1/stream/team-b/${id}`,
    expect: [401, 404, 403, 404],
  },
  {
    name: "HEAD a stream out of scope",
    setup: (id) => stream(`team-b/${id}`),
    method: "HEAD",
    path: (id) => `/v1/stream/team-b/${id}`,
    expect: [401, 200, 403, 200],
  },
  {
    name: "DELETE a stream in scope",
    setup: (id) => stream(`team-a/${id}`),
    method: "DELETE",
    path: (id) => `/v1/stream/team-a/${id}`,
    expect: [401, 403, 204, 204],
  },
  {
    name: "DELETE a stream out of scope",
    setup: (id) => stream(`team-b/${id}`),
    method: "DELETE",
    path: (id) => `/v1/stream/team-b/${id}`,
    expect: [401, 403, 403, 204],
  },
  {
    name: "PUT a fork in scope of a source out of scope",
    setup: (id) => stream(`team-b/${id}`),
    method: "PUT",
    path: (id) => `/v1/stream/team-a/${id}`,
    headers: { "stream-forked-from": "/v1/stream/team-b/src" },
    expect: [401, 403, 403, 201],
  },
  {
    name: "GET a fork in scope, from below its fork offset (its source out of scope)",
    setup: async (id) => {
      await stream(`team-b/${id}`);
      await asAdmin("PUT", `/v1/stream/team-a/${id}`, {
        "stream-forked-from": `/v1/stream/team-b/${id}`,
      });
    },
    method: "GET",
    path: (id) => `/v1/stream/team-a/${id}?offset=-1`,
    expect: [401, 200, 403, 200],
  },
  {
    name: "GET a fork in scope, from its fork offset on",
    setup: async (id) => {
      await stream(`team-b/${id}`);
      await asAdmin("PUT", `/v1/stream/team-a/${id}`, {
        "stream-forked-from": `/v1/stream/team-b/${id}`,
      });
    },
    method: "GET",
    path: (id) => `/v1/stream/team-a/${id}?offset=${formatOffset(1)}`,
    expect: [401, 200, 200, 200],
  },
  {
    // Lists only the outboxes the token may read: the scoped token gets an empty list.
    name: "GET /v1/outbox (all outboxes)",
    method: "GET",
    path: () => "/v1/outbox",
    expect: [401, 200, 200, 200],
  },
  {
    name: "GET /v1/outbox/<name>",
    method: "GET",
    path: () => "/v1/outbox/sync",
    expect: [401, 200, 403, 200],
  },
  {
    name: "GET /v1/outbox/<name> that does not exist",
    method: "GET",
    path: () => "/v1/outbox/nope",
    expect: [401, 404, 403, 404],
  },
  {
    name: "POST /v1/outbox/<name> (enqueue)",
    method: "POST",
    path: () => "/v1/outbox/sync",
    headers: json,
    body: (id) => JSON.stringify({ key: id, method: "PUT", target: `/docs/${id}`, body: "x" }),
    expect: [401, 403, 403, 201],
  },
  {
    name: "GET /v1/stats (the whole journal)",
    method: "GET",
    path: () => "/v1/stats",
    expect: [401, 200, 403, 200],
  },
  {
    name: "GET /v1/streams (lists only readable streams)",
    method: "GET",
    path: () => "/v1/streams",
    expect: [401, 200, 200, 200],
  },
  {
    name: "GET /v1/streams/<path> in scope",
    setup: (id) => stream(`team-a/${id}`),
    method: "GET",
    path: (id) => `/v1/streams/team-a/${id}`,
    expect: [401, 200, 200, 200],
  },
  {
    name: "GET /v1/streams/<path> out of scope",
    setup: (id) => stream(`team-b/${id}`),
    method: "GET",
    path: (id) => `/v1/streams/team-b/${id}`,
    expect: [401, 200, 403, 200],
  },
  {
    name: "GET /v1/messages/<path> out of scope",
    setup: (id) => stream(`team-b/${id}`),
    method: "GET",
    path: (id) => `/v1/messages/team-b/${id}`,
    expect: [401, 200, 403, 200],
  },
  {
    name: "POST /v1/streams/<path>/trim out of scope",
    setup: (id) => stream(`team-b/${id}`),
    method: "POST",
    path: (id) => `/v1/streams/team-b/${id}/trim`,
    headers: json,
    body: () => JSON.stringify({ before: 1 }),
    expect: [401, 403, 403, 204],
  },
  {
    name: "GET the webhook signing keys (JWKS)",
    method: "GET",
    path: () => "/v1/stream/__ds/jwks.json",
    expect: [200, 200, 200, 200],
  },
  {
    name: "PUT a subscription to streams in scope",
    setup: (id) => stream(`team-a/${id}`),
    method: "PUT",
    path: (id) => `/v1/stream/__ds/subscriptions/${id}`,
    headers: json,
    body: (id) =>
      JSON.stringify({
        type: "pull-wake",
        streams: [`team-a/${id}`],
        wake_stream: `team-a/w${id}`,
      }),
    expect: [401, 403, 201, 201],
  },
  {
    name: "PUT a subscription to a stream out of scope",
    setup: (id) => stream(`team-b/${id}`),
    method: "PUT",
    path: (id) => `/v1/stream/__ds/subscriptions/${id}`,
    headers: json,
    body: (id) =>
      JSON.stringify({
        type: "pull-wake",
        streams: [`team-b/${id}`],
        wake_stream: `team-a/w${id}`,
      }),
    expect: [401, 403, 403, 201],
  },
  {
    name: "PUT a subscription with a pattern out of scope",
    method: "PUT",
    path: (id) => `/v1/stream/__ds/subscriptions/${id}`,
    headers: json,
    body: (id) =>
      JSON.stringify({ type: "pull-wake", pattern: "team-*/**", wake_stream: `team-a/w${id}` }),
    expect: [401, 403, 403, 201],
  },
  {
    name: "PUT a subscription whose wake stream is out of scope",
    method: "PUT",
    path: (id) => `/v1/stream/__ds/subscriptions/${id}`,
    headers: json,
    body: (id) =>
      JSON.stringify({ type: "pull-wake", pattern: "team-a/*", wake_stream: `team-b/w${id}` }),
    expect: [401, 403, 403, 201],
  },
  {
    name: "GET a subscription",
    setup: pullWake,
    method: "GET",
    path: (id) => `/v1/stream/__ds/subscriptions/${id}`,
    expect: [401, 200, 200, 200],
  },
  {
    name: "GET a subscription that does not exist",
    method: "GET",
    path: (id) => `/v1/stream/__ds/subscriptions/${id}`,
    expect: [401, 404, 404, 404],
  },
  {
    name: "DELETE a subscription",
    setup: pullWake,
    method: "DELETE",
    path: (id) => `/v1/stream/__ds/subscriptions/${id}`,
    expect: [401, 403, 204, 204],
  },
  {
    name: "POST a subscription's streams, out of scope",
    setup: async (id) => {
      await pullWake(id);
      await stream(`team-b/${id}`);
    },
    method: "POST",
    path: (id) => `/v1/stream/__ds/subscriptions/${id}/streams`,
    headers: json,
    body: (id) => JSON.stringify({ streams: [`team-b/${id}`] }),
    expect: [401, 403, 403, 204],
  },
  {
    name: "DELETE one of a subscription's streams",
    setup: pullWake,
    method: "DELETE",
    path: (id) => `/v1/stream/__ds/subscriptions/${id}/streams/team-a%2F${id}`,
    expect: [401, 403, 204, 204],
  },
  {
    name: "POST a claim of a pull-wake subscription",
    setup: pullWake,
    method: "POST",
    path: (id) => `/v1/stream/__ds/subscriptions/${id}/claim`,
    headers: json,
    body: () => JSON.stringify({ worker: "w1" }),
    expect: [401, 403, 200, 200],
  },
  worker("callback", true),
  worker("callback", false),
  worker("ack", true),
  worker("ack", false),
  worker("release", true),
  worker("release", false),
];

beforeAll(async () => {
  server = await startServer({
    dir: tempDir("tidemark-auth-matrix"),
    port: 0,
    logger: memoryLogger(),
    longPollTimeoutMs: 200,
    sseLifetimeMs: 200,
    auth,
    outboxes: { sync: { baseUrl: "http://127.0.0.1:9" } },
  });
  await stream("team-b/src");
});
afterAll(async () => {
  await server.stop();
});

let counter = 0;

describe("auth matrix", () => {
  it.each(ENDPOINTS)("$name", async (endpoint) => {
    const got: number[] = [];
    for (const caller of CALLERS) {
      const id = `m${++counter}`;
      await endpoint.setup?.(id);
      const token = TOKENS[caller];
      const controller = new AbortController();
      const response = await fetch(`${server.url}${endpoint.path(id)}`, {
        method: endpoint.method,
        headers: {
          ...endpoint.headers,
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        },
        ...(endpoint.body === undefined ? {} : { body: endpoint.body(id) }),
        signal: controller.signal,
      });
      got.push(response.status);
      if (response.status >= 400) {
        // Errors are JSON with a code, and 401 says how to authenticate.
        if (endpoint.method !== "HEAD") {
          const body = (await response.json()) as { error: { code: string } };
          expect(body.error.code.length).toBeGreaterThan(0);
        }
        if (response.status === 401)
          expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
      }
      controller.abort(); // an SSE response would otherwise stay open
    }
    expect(Object.fromEntries(CALLERS.map((c, i) => [c, got[i]]))).toEqual(
      Object.fromEntries(CALLERS.map((c, i) => [c, endpoint.expect[i]])),
    );
  });
});
