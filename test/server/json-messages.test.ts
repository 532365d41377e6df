/**
 * JSON streams over the journal (issue 13 item 4, issue 14 item 3): a POST of an array appends
 * one record per element, atomically, so a library reader of the same stream gets one JSON
 * value per record; every message is stored as the client's own bytes; invalid UTF-8 is refused;
 * offsets advance by the element count; journals written when a POST was one comma-joined
 * record read back exactly as before, sub-offset forks included.
 */
import { cpSync } from "node:fs";
import { fileURLToPath } from "node:url";
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
    dir: tempDir("tidemark-json"),
    port: 0,
    logger: memoryLogger(),
    ...options,
  });
  running.push(server);
  return server;
}

const json = { "content-type": "application/json" };
const at = (server: RunningServer, path: string) => `${server.url}/v1/stream/${path}`;

async function records(server: RunningServer, name: string): Promise<string[]> {
  const stream = await server.journal.stream(name);
  const out: string[] = [];
  for await (const record of stream.read({ after: 0 })) {
    out.push(Buffer.from(record.payload).toString("utf8"));
  }
  return out;
}

async function post(server: RunningServer, path: string, body: string | Buffer) {
  return fetch(at(server, path), { method: "POST", headers: json, body });
}

describe("JSON streams, one record per message", () => {
  it("appends each element of an array as its own record, atomically, positions advancing by the count", async () => {
    const server = await start();
    const created = await fetch(at(server, "s"), { method: "PUT", headers: json, body: "[1,2]" });
    expect(created.headers.get("stream-next-offset")).toBe(formatOffset(2));
    const appended = await post(server, "s", '[{"n":1}, {"n":2} ,{"n":3}]');
    expect(appended.status).toBe(204);
    expect(appended.headers.get("stream-next-offset")).toBe(formatOffset(5));
    const single = await post(server, "s", ' {"n":4}\n');
    expect(single.headers.get("stream-next-offset")).toBe(formatOffset(6));
    const held = await records(server, "s");
    expect(held).toEqual(["1", "2", '{"n":1}', '{"n":2}', '{"n":3}', '{"n":4}']);
    for (const payload of held) expect(() => JSON.parse(payload)).not.toThrow();
    // One commit: all of a batch has the same timestamp, and it is all there or not at all.
    const stream = await server.journal.stream("s");
    const stamps: number[] = [];
    for await (const record of stream.read({ after: 2 })) stamps.push(record.timestamp);
    expect(new Set(stamps.slice(0, 3)).size).toBe(1);
    // Reads over HTTP return the same array, from any message's offset.
    const all = await (await fetch(`${at(server, "s")}?offset=-1`)).json();
    expect(all).toEqual([1, 2, { n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    const from3 = await (await fetch(`${at(server, "s")}?offset=${formatOffset(3)}`)).json();
    expect(from3).toEqual([{ n: 2 }, { n: 3 }, { n: 4 }]);
  });

  it("stores each message as the client's own bytes, never re-serialized", async () => {
    const server = await start();
    await fetch(at(server, "raw"), { method: "PUT", headers: json });
    const messages = [
      "123456789012345678901234567890",
      "1e999",
      '{"a":1,"a":2}',
      '{ "spaced" : [ 1 , 2 ] }',
      '"\\u00e9\\ud83d"',
      '"é😀"',
      "-0.0E+00",
    ];
    expect((await post(server, "raw", `[${messages.join(",\n ")}]`)).status).toBe(204);
    expect(await records(server, "raw")).toEqual(messages);
    const text = await (await fetch(`${at(server, "raw")}?offset=-1`)).text();
    expect(text).toBe(`[${messages.join(",")}]`);
  });

  it("refuses bodies that are not valid UTF-8, and appends nothing", async () => {
    const server = await start();
    await fetch(at(server, "u"), { method: "PUT", headers: json });
    for (const bad of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf0, 0x82, 0x82, 0xac]]) {
      const body = Buffer.concat([Buffer.from('["'), Buffer.from(bad), Buffer.from('"]')]);
      const response = await post(server, "u", body);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
        "INVALID_JSON",
      );
    }
    const put = await fetch(at(server, "u2"), {
      method: "PUT",
      headers: json,
      body: Buffer.from([0x5b, 0x22, 0xff, 0x22, 0x5d]),
    });
    expect(put.status).toBe(400);
    expect(await records(server, "u")).toEqual([]);
    expect((await fetch(at(server, "u2"))).status).toBe(404);
  });

  it("refuses an array of more than 100,000 messages with 413, appending none of them", async () => {
    const server = await start();
    await fetch(at(server, "big"), { method: "PUT", headers: json });
    const response = await post(server, "big", `[${"0,".repeat(100_000)}0]`);
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      "BATCH_TOO_LARGE",
    );
    expect(await records(server, "big")).toEqual([]);
    expect((await post(server, "big", `[${"0,".repeat(99_999)}0]`)).status).toBe(204);
    expect((await records(server, "big")).length).toBe(100_000);
  });

  it("forks at a JSON sub-offset that spans several appends' messages", async () => {
    const server = await start();
    await fetch(at(server, "src"), { method: "PUT", headers: json, body: "[1,2]" });
    await post(server, "src", "[3,4,5]");
    const fork = await fetch(at(server, "fork"), {
      method: "PUT",
      headers: {
        "stream-forked-from": "/v1/stream/src",
        "stream-fork-offset": formatOffset(1),
        "stream-fork-sub-offset": "3",
      },
    });
    expect(fork.status).toBe(201);
    expect(fork.headers.get("stream-next-offset")).toBe(formatOffset(4));
    expect(await (await fetch(`${at(server, "fork")}?offset=-1`)).json()).toEqual([1, 2, 3, 4]);
    const over = await fetch(at(server, "fork2"), {
      method: "PUT",
      headers: {
        "stream-forked-from": "/v1/stream/src",
        "stream-fork-offset": formatOffset(1),
        "stream-fork-sub-offset": "5",
      },
    });
    expect(over.status).toBe(400);
  });
});

describe("journals written with one record per POST", () => {
  const fixture = fileURLToPath(new URL("../fixtures/json-stream-v0", import.meta.url));

  async function fromFixture(): Promise<RunningServer> {
    const dir = tempDir("tidemark-json-v0");
    cpSync(fixture, dir, { recursive: true });
    return start({ dir });
  }

  it("read back over HTTP exactly as the server that wrote them answered", async () => {
    const answers = (await import("../fixtures/json-stream-v0/answers.json", {
      with: { type: "json" },
    })) as { default: Record<string, string> };
    const server = await fromFixture();
    // The old records are as they were: a POST's messages joined by commas.
    expect(await records(server, "events")).toEqual([
      '{"n":1},{"n":2}',
      '{"n":3},{"n":4},{"n":5}',
      '{"n":6}',
      "[7,8]",
    ]);
    for (const [offset, body] of Object.entries(answers.default)) {
      expect(await (await fetch(`${at(server, "events")}?offset=${offset}`)).text(), offset).toBe(
        body,
      );
    }
    // New appends are one record per message; reads across both kinds are one array.
    const appended = await post(server, "events", '[{"n":9},{"n":10}]');
    expect(appended.headers.get("stream-next-offset")).toBe(formatOffset(6));
    expect((await records(server, "events")).slice(4)).toEqual(['{"n":9}', '{"n":10}']);
    expect(await (await fetch(`${at(server, "events")}?offset=${formatOffset(3)}`)).json()).toEqual(
      [[7, 8], { n: 9 }, { n: 10 }],
    );
  });

  it("fork at a sub-offset inside an old comma-joined record", async () => {
    const server = await fromFixture();
    const fork = (name: string, offset: number, sub: number) =>
      fetch(at(server, name), {
        method: "PUT",
        headers: {
          "stream-forked-from": "/v1/stream/events",
          "stream-fork-offset": formatOffset(offset),
          "stream-fork-sub-offset": String(sub),
        },
      });
    expect((await fork("f1", 0, 1)).status).toBe(201);
    expect(await (await fetch(`${at(server, "f1")}?offset=-1`)).json()).toEqual([{ n: 1 }]);
    expect((await fork("f2", 1, 4)).status).toBe(201);
    expect(await (await fetch(`${at(server, "f2")}?offset=-1`)).json()).toEqual([
      { n: 1 },
      { n: 2 },
      { n: 3 },
      { n: 4 },
      { n: 5 },
      { n: 6 },
    ]);
    expect((await fork("f3", 3, 2)).status).toBe(400); // one message, [7,8], follows offset 3
  });
});
