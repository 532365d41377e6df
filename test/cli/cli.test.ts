/**
 * The `tidemark` command as a user runs it: a real child process, its output and exit code.
 * Journal commands (ls, read, verify) and the outbox commands (ls, show, retry, discard),
 * including while another process holds the journal.
 */
import { execFile } from "node:child_process";
import { closeSync, openSync, readdirSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpUpstream, Journal, Outbox } from "../../src/index.js";
import { type FlakyUpstream, startFlakyUpstream } from "../support/flaky-upstream.js";
import { tempDir } from "../support/tmp-dir.js";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

function tidemark(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", MAIN, ...args],
      { timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let dir: string;
let upstream: FlakyUpstream;
let conflictId: string;
let deadId: string;

beforeAll(async () => {
  dir = tempDir("cli");
  upstream = await startFlakyUpstream({ dir: tempDir("cli-upstream") });
  const journal = await Journal.open(dir);
  const events = await journal.stream("agent/events");
  await events.appendMany(["one", "two", "three"]);
  const outbox = await Outbox.open(journal, "sync", {
    upstream: new HttpUpstream({ baseUrl: upstream.url }),
    backoff: { initialMs: 10, maxMs: 50 },
  });
  outbox.start();
  await outbox.enqueue({ method: "PUT", target: "/items/x", body: "v1 of x" });
  conflictId = await outbox.enqueue({
    method: "PUT",
    target: "/items/x",
    body: "stale write",
    precondition: { ifMatch: '"v0"' },
  });
  deadId = await outbox.enqueue({ body: "REJECT this" });
  await outbox.idle();
  await outbox.stop();
  // Two more that stay pending (the outbox is stopped).
  await outbox.enqueue({ key: "later", body: "pending one" });
  await outbox.enqueue({ key: "later", body: "pending two" });
  await journal.close();
});

afterAll(async () => {
  await upstream.stop();
});

describe("tidemark (journal commands)", () => {
  it("lists streams, reads records, and verifies a journal", async () => {
    const ls = await tidemark("ls", "--dir", dir);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/^agent\/events\s+3\s+1\.\.3\s/m);
    const read = await tidemark("read", "agent/events", "--dir", dir, "--format", "json");
    expect(read.code).toBe(0);
    const lines = read.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { seq: number; text: string });
    expect(lines.map((l) => [l.seq, l.text])).toEqual([
      [1, "one"],
      [2, "two"],
      [3, "three"],
    ]);
    expect((await tidemark("verify", "--dir", dir)).code).toBe(0);
  });

  it("exits 1 with the error code for a missing stream or journal", async () => {
    const missing = await tidemark("read", "nope", "--dir", dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/\[NOT_FOUND\]/);
    const noJournal = await tidemark("ls", "--dir", join(dir, "does-not-exist"));
    expect(noJournal.code).toBe(1);
    expect(noJournal.stderr).toMatch(/\[NOT_FOUND\]/);
  });
});

describe("tidemark outbox", () => {
  it("lists outboxes with pending entries, conflicts and dead letters", async () => {
    const ls = await tidemark("outbox", "ls", "--dir", dir);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/^sync\s+2\s+\d+s\s+1\s+1$/m);
    const json = JSON.parse((await tidemark("outbox", "ls", "--dir", dir, "--json")).stdout);
    expect(json).toMatchObject([{ name: "sync", pending: 2, conflicts: 1, deadLetters: 1 }]);
  });

  it("shows the held entries with the upstream's answer, and one entry in full", async () => {
    const show = await tidemark("outbox", "show", "sync", "--dir", dir);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(new RegExp(`^${conflictId}\\s+conflict\\s+-\\s+PUT /items/x`, "m"));
    expect(show.stdout).toMatch(new RegExp(`^${deadId}\\s+dead\\s+`, "m"));
    expect(show.stdout).toMatch(/2 pending/);
    const one = JSON.parse(
      (await tidemark("outbox", "show", "sync", conflictId, "--dir", dir)).stdout,
    );
    expect(one).toMatchObject({
      id: conflictId,
      state: "conflict",
      body: "stale write",
      precondition: { ifMatch: '"v0"' },
      answer: { status: 412, headers: { etag: '"v1"' } },
    });
  });

  it("refuses to change an outbox while another process holds the journal, and still shows it", async () => {
    const holder = await Journal.open(dir);
    try {
      const retry = await tidemark("outbox", "retry", "sync", conflictId, "--dir", dir);
      expect(retry.code).toBe(5);
      expect(retry.stderr).toMatch(/\[JOURNAL_LOCKED\]/);
      expect((await tidemark("outbox", "ls", "--dir", dir)).code).toBe(0);
    } finally {
      await holder.close();
    }
  });

  it("retries a conflict with a new precondition and discards a dead letter", async () => {
    const retry = await tidemark(
      "outbox",
      "retry",
      "sync",
      conflictId,
      "--if-match",
      '"v1"',
      "--header",
      "x-retried-by: operator",
      "--dir",
      dir,
    );
    expect(retry.code, retry.stderr).toBe(0);
    const discard = await tidemark("outbox", "discard", "sync", deadId, "--dir", dir);
    expect(discard.code, discard.stderr).toBe(0);
    const again = await tidemark("outbox", "discard", "sync", deadId, "--dir", dir);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/\[NOT_FOUND\]/);

    const journal = await Journal.open(dir);
    const outbox = await Outbox.open(journal, "sync", {
      upstream: new HttpUpstream({ baseUrl: upstream.url }),
    });
    expect(outbox.stats()).toMatchObject({ pending: 3, conflicts: 0, deadLetters: 0 });
    expect(outbox.get(conflictId)).toMatchObject({
      state: "pending",
      precondition: { ifMatch: '"v1"' },
      headers: { "x-retried-by": "operator" },
    });
    outbox.start();
    await outbox.idle();
    expect(outbox.stats()).toMatchObject({ pending: 0, conflicts: 0 });
    await journal.close();
  });

  it("reports an unknown outbox, and a damaged journal, with exit code 1", async () => {
    const unknown = await tidemark("outbox", "show", "nope", "--dir", dir);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no outbox named "nope".*\[NOT_FOUND\]/);
    // Flip a byte inside a record of the events stream: verify finds it.
    const streamDir = join(
      dir,
      "streams",
      readdirSync(join(dir, "streams")).find((d) => d.startsWith("agent"))!,
    );
    const fd = openSync(join(streamDir, "00000000000000000001.seg"), "r+");
    writeSync(fd, Buffer.from("X"), 0, 1, 32 + 28 + 1);
    closeSync(fd);
    const verify = await tidemark("verify", "--dir", dir);
    expect(verify.code).toBe(3);
    expect(verify.stdout + verify.stderr).toMatch(/agent\/events/);
  });
});
