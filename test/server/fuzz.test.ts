/**
 * Malformed requests never crash the server, never answer 5xx, and never touch another stream.
 */

import { request } from "node:http";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../../src/server/server.js";
import { memoryLogger } from "../support/silent-logger.js";
import { tempDir } from "../support/tmp-dir.js";

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({
    dir: tempDir("tidemark-fuzz"),
    port: 0,
    logger: memoryLogger(),
    longPollTimeoutMs: 50,
    sseLifetimeMs: 100,
  });
  await fetch(`${server.url}/v1/stream/sentinel`, {
    method: "PUT",
    headers: { "content-type": "text/plain" },
    body: "keep me",
  });
});
afterAll(async () => {
  await server.stop();
});

/** A raw HTTP request (no client-side validation of the path or headers). */
function raw(
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string,
): Promise<number> {
  const { port } = new URL(server.url);
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port: Number(port), method, path, headers }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", () => resolve(-1)); // refused by Node's own parser (a malformed request line)
    req.end(body);
  });
}

const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom(
    "..",
    "../..",
    "%2e%2e",
    "%2F",
    "%00",
    "a/../../etc",
    "%ff%fe",
    "\u{1F600}",
    "__ds",
    " ",
    "?",
    "#",
  ),
);
const headerValue = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom("-1", "true", "1e3", "0x1", "9999999999999999999", ""),
);

describe("fuzzing requests", () => {
  it("answers every malformed path, header and offset with a 4xx (or 2xx), never 5xx, and touches nothing else", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH"),
        fc.array(nasty, { minLength: 1, maxLength: 4 }),
        fc.string({ maxLength: 40 }),
        fc.record(
          {
            "content-type": fc.oneof(
              headerValue,
              fc.constantFrom("text/plain", "application/json", "APPLICATION/JSON; x=1"),
            ),
            "stream-ttl": headerValue,
            "stream-expires-at": headerValue,
            "stream-seq": headerValue,
            "stream-closed": headerValue,
            "producer-id": headerValue,
            "producer-epoch": headerValue,
            "producer-seq": headerValue,
            "stream-forked-from": fc.oneof(headerValue, fc.constant("/v1/stream/sentinel")),
            "stream-fork-offset": headerValue,
            "stream-fork-sub-offset": headerValue,
            "if-none-match": headerValue,
          },
          { requiredKeys: [] },
        ),
        fc.string({ maxLength: 100 }),
        async (method, segments, query, headers, body) => {
          const path = `/v1/stream/${segments.map((s) => encodeURI(s)).join("/")}?${encodeURI(query)}`;
          const safeHeaders = Object.fromEntries(
            Object.entries(headers).filter(([, v]) => /^[\t\x20-\x7e]*$/.test(v)),
          );
          const status = await raw(method, path, safeHeaders, body);
          expect(
            status === -1 || (status >= 200 && status < 500),
            `${method} ${path} → ${status}`,
          ).toBe(true);
        },
      ),
      { numRuns: 600 },
    );
    expect(await (await fetch(`${server.url}/v1/stream/sentinel`)).text()).toBe("keep me");
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  }, 120_000);

  it("answers offsets of every shape with 400 unless they are offsets", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 40 }), async (offset) => {
        fc.pre(offset !== "-1" && offset !== "now" && !/^\d{16}_\d{16}$/.test(offset));
        const response = await fetch(
          `${server.url}/v1/stream/sentinel?offset=${encodeURIComponent(offset)}`,
        );
        await response.arrayBuffer();
        expect(response.status).toBe(400);
      }),
      { numRuns: 300 },
    );
  });
});
