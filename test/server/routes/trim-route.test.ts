/**
 * POST /v1/streams/<path>/trim and the outbox entry actions, against a server in this process:
 * 401 before anything is revealed, 403 outside the token's scopes, bad bodies refused with
 * nothing changed, 404 for what does not exist, and the trim itself (a 410 for what it released).
 */
import { afterEach, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../../../src/server/server.js";
import { memoryLogger } from "../../support/silent-logger.js";
import { tempDir } from "../../support/tmp-dir.js";

const running: RunningServer[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) await server.stop();
});

const root = "t".repeat(32);
const teamA = "a".repeat(32);

async function start(): Promise<RunningServer> {
  const server = await startServer({
    dir: tempDir("trim-route"),
    port: 0,
    logger: memoryLogger(),
    auth: {
      tokens: [
        { name: "root", token: root, scopes: [{ prefix: "", access: "write" }] },
        { name: "team-a", token: teamA, scopes: [{ prefix: "team-a/", access: "write" }] },
      ],
    },
  });
  running.push(server);
  return server;
}

const post = (url: string, token: string | undefined, body?: string) =>
  fetch(url, {
    method: "POST",
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      "content-type": "application/json",
    },
    ...(body === undefined ? {} : { body }),
  });

async function code(response: Response): Promise<[number, string]> {
  return [response.status, ((await response.json()) as { error: { code: string } }).error.code];
}

describe("POST /v1/streams/<path>/trim", () => {
  it("releases records below the seq; refuses without a token, outside scope, and bad bodies", async () => {
    const server = await start();
    const stream = `${server.url}/v1/stream/team-a/log`;
    const auth = { authorization: `Bearer ${root}`, "content-type": "text/plain" };
    expect((await fetch(stream, { method: "PUT", headers: auth })).status).toBe(201);
    for (let i = 0; i < 10; i++)
      await fetch(stream, { method: "POST", headers: auth, body: `m${i}` });
    const trim = `${server.url}/v1/streams/team-a/log/trim`;
    expect(
      await code(
        await post(`${server.url}/v1/streams/team-a/missing/trim`, undefined, '{"before":3}'),
      ),
    ).toEqual([401, "UNAUTHORIZED"]);
    expect(
      await code(await post(`${server.url}/v1/streams/other/log/trim`, teamA, '{"before":3}')),
    ).toEqual([403, "FORBIDDEN"]);
    expect(await code(await post(trim, teamA, "not json"))).toEqual([400, "INVALID_JSON"]);
    expect(await code(await post(trim, teamA, '{"before":0}'))).toEqual([400, "INVALID_REQUEST"]);
    expect(
      await code(await post(`${server.url}/v1/streams/team-a/missing/trim`, teamA, '{"before":3}')),
    ).toEqual([404, "NOT_FOUND"]);
    expect(
      await code(await fetch(trim, { headers: { authorization: `Bearer ${teamA}` } })),
    ).toEqual([405, "METHOD_NOT_ALLOWED"]);
    expect(server.journal.list()).toContain("team-a/log");
    const trimmed = await post(trim, teamA, '{"before":6}');
    expect(trimmed.status).toBe(204);
    const info = (await server.journal.stream("team-a/log")).info();
    expect(info.firstSeq).toBe(6);
    expect(
      await code(
        await post(`${server.url}/v1/streams/__ds/subscriptions/trim`, root, '{"before":2}'),
      ),
    ).toEqual([404, "NOT_FOUND"]);
  });
});

describe("POST /v1/outbox/<name>/entries/<id>/retry | discard", () => {
  it("needs write access to the outbox, and 404s an outbox the server does not run", async () => {
    const server = await start();
    const retry = `${server.url}/v1/outbox/sync/entries/1/retry`;
    expect(await code(await post(retry, undefined, "{}"))).toEqual([401, "UNAUTHORIZED"]);
    expect(await code(await post(retry, teamA, "{}"))).toEqual([403, "FORBIDDEN"]);
    expect(await code(await post(retry, root, "{}"))).toEqual([404, "NOT_FOUND"]);
    expect(await code(await post(`${server.url}/v1/outbox/sync/entries/1/discard`, root))).toEqual([
      404,
      "NOT_FOUND",
    ]);
  });
});
