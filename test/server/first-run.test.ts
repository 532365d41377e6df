/**
 * What a new user meets first over HTTP: a conflicting PUT says which setting differs, a body
 * over the limit names `bodyBytesMax`, a path with a trailing slash is refused rather than made
 * a second stream, and `--log-level debug` logs every request.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type RunningServer, type ServerOptions, startServer } from "../../src/server/server.js";
import { memoryLogger } from "../support/silent-logger.js";
import { tempDir } from "../support/tmp-dir.js";

const running: RunningServer[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) await server.stop();
});

async function start(options: Partial<ServerOptions> = {}) {
  const logger = memoryLogger();
  const server = await startServer({ dir: tempDir(), port: 0, logger, ...options });
  running.push(server);
  return { server, logger, at: (path: string) => `${server.url}/v1/stream/${path}` };
}

async function error(
  response: Response,
): Promise<{ status: number; code: string; message: string }> {
  const body = (await response.json()) as { error: { code: string; message: string } };
  return { status: response.status, ...body.error };
}

describe("first run over HTTP", () => {
  it("names the setting a conflicting PUT differs in", async () => {
    const { at } = await start();
    const put = (headers: Record<string, string>) => fetch(at("s"), { method: "PUT", headers });
    expect((await put({ "content-type": "text/plain" })).status).toBe(201);
    const type = await error(await put({ "content-type": "application/json" }));
    expect(type).toMatchObject({ status: 409, code: "STREAM_EXISTS" });
    expect(type.message).toMatch(/content type "application\/json", the stream's is "text\/plain"/);
    const ttl = await error(await put({ "content-type": "text/plain", "stream-ttl": "60" }));
    expect(ttl.message).toMatch(/Stream-TTL 60, the stream's is \(none\)/);
    expect((await put({ "content-type": "text/plain" })).status).toBe(200); // same settings
  });

  it("names bodyBytesMax in BODY_TOO_LARGE", async () => {
    const { at } = await start({ bodyBytesMax: 1024 });
    await fetch(at("s"), { method: "PUT", headers: { "content-type": "text/plain" } });
    const big = await fetch(at("s"), {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "x".repeat(4096),
    });
    const answer = await error(big);
    expect(answer).toMatchObject({ status: 413, code: "BODY_TOO_LARGE" });
    expect(answer.message).toMatch(/bodyBytesMax, 1024 bytes/);
  });

  it("refuses a stream path with a trailing slash or an empty segment instead of making another stream", async () => {
    const { server, at } = await start();
    const text = { "content-type": "text/plain" };
    expect((await fetch(at("a"), { method: "PUT", headers: text })).status).toBe(201);
    for (const path of ["a/", "a//b", "a/b/"]) {
      const answer = await error(await fetch(at(path), { method: "PUT", headers: text }));
      expect(answer, path).toMatchObject({ status: 400, code: "INVALID_NAME" });
    }
    expect(server.journal.list().filter((name) => !name.startsWith("__"))).toEqual(["a"]);
  });

  it("logs every request at debug", async () => {
    const { at, logger } = await start();
    await fetch(at("s"), { method: "PUT", headers: { "content-type": "text/plain" } });
    await fetch(`${at("s")}?offset=-1`);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the finish event follows the answer
    const requests = logger.lines.filter((l) => l.level === "debug" && l.message === "request");
    expect(requests.map((l) => [l.fields["method"], l.fields["status"]])).toEqual([
      ["PUT", 201],
      ["GET", 200],
    ]);
  });
});
