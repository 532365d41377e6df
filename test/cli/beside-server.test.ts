/**
 * The CLI against a journal a running `tidemark serve` holds (a real server process): reading
 * commands open it read-only; `rm`, `trim`, `outbox retry | discard` go through the server's API
 * (with a token when auth is on); `import` and `repair` say how to get the writer lock instead of
 * giving library advice.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpUpstream, Journal, Outbox } from "../../src/index.js";
import { tidemark } from "../support/cli.js";
import { type FlakyUpstream, startFlakyUpstream } from "../support/flaky-upstream.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import { tempDir } from "../support/tmp-dir.js";

const TOKEN = "cli-test-token-0123456789abcdef-0123456789";

let dir: string;
let upstream: FlakyUpstream;
let server: ServerProcess;
let conflictId: string;
let deadId: string;

async function stop(s: ServerProcess): Promise<void> {
  s.child.process.kill("SIGTERM");
  await s.child.exited;
}

beforeAll(async () => {
  dir = tempDir("beside");
  upstream = await startFlakyUpstream({ dir: tempDir("beside-upstream") });
  const journal = await Journal.open(dir);
  const events = await journal.stream("agent/events");
  for (let i = 1; i <= 50; i++) await events.append(`event ${i}`);
  await journal.stream("scratch");
  const outbox = await Outbox.open(journal, "sync", {
    upstream: new HttpUpstream({ baseUrl: upstream.url }),
    backoff: { initialMs: 10, maxMs: 50 },
  });
  outbox.start();
  await outbox.enqueue({ method: "PUT", target: "/items/x", body: "v1 of x" });
  conflictId = await outbox.enqueue({
    method: "PUT",
    target: "/items/x",
    body: "stale",
    precondition: { ifMatch: '"v0"' },
  });
  deadId = await outbox.enqueue({ body: "REJECT this" });
  await outbox.idle();
  await outbox.close();
  await journal.close();
  const config = join(tempDir("beside-config"), "tidemark.json");
  writeFileSync(
    config,
    JSON.stringify({
      outboxes: { sync: { baseUrl: upstream.url } },
      auth: { tokens: [{ name: "ops", token: TOKEN, scopes: [{ prefix: "", access: "write" }] }] },
    }),
  );
  server = await startServerProcess(dir, ["--config", config]);
}, 120_000);

afterAll(async () => {
  await stop(server);
  await upstream.stop();
});

describe("beside a running server", () => {
  it("reads: ls, read, stats and verify open the journal read-only", async () => {
    const ls = await tidemark(["ls", "--dir", dir, "--json"]);
    expect(ls.code).toBe(0);
    expect(JSON.parse(ls.stdout).map((s: { name: string }) => s.name)).toEqual([
      "agent/events",
      "scratch",
    ]);
    const all = JSON.parse((await tidemark(["ls", "--all", "--dir", dir, "--json"])).stdout);
    expect(all.map((s: { name: string }) => s.name)).toEqual(
      expect.arrayContaining(["__outbox/sync/entries", "agent/events"]),
    );
    const stats = await tidemark(["stats", "--dir", dir, "--json"]);
    expect(JSON.parse(stats.stdout)).toMatchObject({
      journal: { streams: expect.any(Number), diskFreeBytes: expect.any(Number) },
    });
    expect((await tidemark(["verify", "--dir", dir])).code).toBe(0);
    // An export while the server holds the journal, imported elsewhere.
    const exported = await tidemark(["export", "agent/events", "--dir", dir, "--quiet"]);
    expect(exported.code).toBe(0);
    const copy = join(tempDir("beside-copy"), "journal");
    const imported = await tidemark(
      ["import", "-", "--format", "archive", "--dir", copy, "--json"],
      { input: exported.bytes },
    );
    expect(JSON.parse(imported.stdout).streams[0]).toMatchObject({
      stream: "agent/events",
      records: 50,
      lastSeq: 50,
    });
  });

  it("trim and rm go through the server, with the token", async () => {
    const refused = await tidemark([
      "trim",
      "agent/events",
      "--before",
      "20",
      "--dir",
      dir,
      "--url",
      server.url,
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refused: .*--token or TIDEMARK_TOKEN.*\[UNAUTHORIZED\]/);
    const wrongPlace = await tidemark([
      "trim",
      "agent/events",
      "--before",
      "20",
      "--dir",
      dir,
      "--url",
      "http://127.0.0.1:9",
    ]);
    expect(wrongPlace.code).toBe(1);
    expect(wrongPlace.stderr).toMatch(/cannot reach the server at http:\/\/127\.0\.0\.1:9/);
    const trimmed = await tidemark([
      "trim",
      "agent/events",
      "--before",
      "20",
      "--dir",
      dir,
      "--url",
      server.url,
      "--token",
      TOKEN,
    ]);
    expect(trimmed.code, trimmed.stderr).toBe(0);
    expect(trimmed.stdout).toMatch(/seqs below 20 released \(through http/);
    const read = await tidemark(["read", "agent/events", "--dir", dir, "--limit", "1", "--json"]);
    expect(JSON.parse(read.stdout).seq).toBeGreaterThanOrEqual(20);
    const removed = await tidemark(["rm", "scratch", "--dir", dir], {
      env: { TIDEMARK_URL: server.url, TIDEMARK_TOKEN: TOKEN },
    });
    expect(removed.code, removed.stderr).toBe(0);
    const ls = JSON.parse((await tidemark(["ls", "--dir", dir, "--json"])).stdout);
    expect(ls.map((s: { name: string }) => s.name)).toEqual(["agent/events"]);
  });

  it("outbox retry and discard go through the server's outbox endpoints", async () => {
    const retry = await tidemark(
      ["outbox", "retry", "sync", conflictId, "--if-match", '"v1"', "--dir", dir],
      { env: { TIDEMARK_URL: server.url, TIDEMARK_TOKEN: TOKEN } },
    );
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.stdout).toMatch(/pending again in outbox sync \(through http/);
    const discard = await tidemark([
      "outbox",
      "discard",
      "sync",
      deadId,
      "--dir",
      dir,
      "--url",
      server.url,
      "--token",
      TOKEN,
    ]);
    expect(discard.code, discard.stderr).toBe(0);
    const again = await tidemark([
      "outbox",
      "discard",
      "sync",
      deadId,
      "--dir",
      dir,
      "--url",
      server.url,
      "--token",
      TOKEN,
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/\[NOT_FOUND\]/);
    // The server's outbox delivers the retried entry; the CLI sees it read-only.
    const deadline = Date.now() + 20_000;
    let status: Array<{ conflicts: number; deadLetters: number; pending: number }> = [];
    while (Date.now() < deadline) {
      status = JSON.parse((await tidemark(["outbox", "ls", "--dir", dir, "--json"])).stdout);
      if (status[0]?.pending === 0) break;
    }
    expect(status[0]).toMatchObject({ conflicts: 0, deadLetters: 0, pending: 0 });
  });

  it("import and repair say how to get the writer lock; repair --dry-run works", async () => {
    const file = join(tempDir("beside-import"), "x.ndjson");
    writeFileSync(file, '{"a":1}\n');
    const imported = await tidemark(["import", file, "--dir", dir]);
    expect(imported.code).toBe(5);
    expect(imported.stderr).toMatch(
      /open for writing by process \d+.*stop that process and import again, or import into another directory.*\[JOURNAL_LOCKED\]/,
    );
    const repaired = await tidemark(["repair", "--all", "--dir", dir]);
    expect(repaired.code).toBe(5);
    expect(repaired.stderr).toMatch(/stop that process.*--dry-run works while it runs/);
    expect((await tidemark(["repair", "--all", "--dry-run", "--dir", dir])).code).toBe(0);
    for (const output of [imported.stderr, repaired.stderr]) expect(output).not.toMatch(/readOnly/);
  });

  it("without --url, checks that the default server is the one holding the journal", async () => {
    // Nothing this test started listens on the default port: either nothing answers there, or a
    // server that is not this journal's does. Either way the command refuses and says --url.
    const result = await tidemark(["rm", "agent/events", "--dir", dir], {
      env: { TIDEMARK_URL: "" },
    });
    expect(result.code).toBe(5);
    expect(result.stderr).toMatch(/open for writing by process \d+.*--url \(or TIDEMARK_URL\)/);
  });
});
