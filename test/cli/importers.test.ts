/**
 * `tidemark import` of the hand-rolled logs tidemark replaces, as real processes, on fixtures
 * written here in each format the way those programs write it (test/support/legacy-logs.ts), torn
 * and garbled tails included: every intact record arrives with its timestamp (where the format
 * has one) and its seq (kept or numbered, as the report says), and every damaged part is
 * reported by line or byte offset, never skipped silently.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Journal, Outbox } from "../../src/index.js";
import { NO_UPSTREAM } from "../../src/outbox/index.js";
import { tidemark } from "../support/cli.js";
import {
  jsonBuffer,
  jsonlSegments,
  outboxDir,
  runLedger,
  seqLenFile,
} from "../support/legacy-logs.js";
import { tempDir } from "../support/tmp-dir.js";

async function records(dir: string, name: string) {
  const journal = await Journal.open(dir, { readOnly: true });
  try {
    const stream = await journal.stream(name);
    const out: Array<{ seq: number; timestamp: number; payload: string }> = [];
    for await (const r of stream.read()) {
      out.push({ seq: r.seq, timestamp: r.timestamp, payload: Buffer.from(r.payload).toString() });
    }
    return { out, lost: stream.lost, info: stream.info() };
  } finally {
    await journal.close();
  }
}

describe("tidemark import --format ndjson (a run ledger's events.ndjson)", () => {
  it("imports each line as it is, stamped with its timestamp, and reports the garbled and torn lines", async () => {
    const dir = tempDir("ndjson");
    const { path, events, garbledLine, tornByte } = runLedger(dir);
    const journal = join(dir, "journal");
    const result = await tidemark(["import", path, "--dir", journal, "--json"]);
    expect(result.code, result.stderr).toBe(3);
    const report = JSON.parse(result.stdout);
    expect(report.streams[0]).toMatchObject({
      stream: "events",
      records: events.length,
      seqs: "numbered",
    });
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: "garbled", line: garbledLine }),
      expect.objectContaining({ kind: "torn", byte: tornByte }),
    ]);
    const { out } = await records(journal, "events");
    expect(out.map((r) => r.payload)).toEqual(events.map((e) => JSON.stringify(e)));
    expect(out.map((r) => r.timestamp)).toEqual(events.map((e) => e.timestamp));
    expect(out.map((r) => r.seq)).toEqual(events.map((_, i) => i + 1));
  });

  it("appends to an existing stream only with --append, and says so", async () => {
    const dir = tempDir("ndjson-append");
    const { path, events } = runLedger(dir);
    const journal = join(dir, "journal");
    await tidemark(["import", path, "--dir", journal, "--stream", "ledger"]);
    const refused = await tidemark(["import", path, "--dir", journal, "--stream", "ledger"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/--append.*\[STREAM_EXISTS\]/);
    const appended = await tidemark([
      "import",
      path,
      "--dir",
      journal,
      "--stream",
      "ledger",
      "--append",
    ]);
    expect(appended.stdout).toMatch(
      /seqs \d+\.\.\d+ \(appended\), timestamps: the time of the import/,
    );
    expect((await records(journal, "ledger")).out).toHaveLength(events.length * 2);
  });
});

describe("tidemark import --format jsonl-segments (a change-feed journal)", () => {
  it("keeps seqs across files, records a pruned prefix and gaps, and reports a torn non-UTF-8 tail", async () => {
    const dir = tempDir("jsonl");
    const feed = jsonlSegments(join(dir, "events"));
    const journal = join(dir, "journal");
    const result = await tidemark(["import", join(dir, "events"), "--dir", journal, "--json"]);
    expect(result.code, result.stderr).toBe(3);
    const report = JSON.parse(result.stdout);
    expect(report.format).toBe("jsonl-segments");
    expect(report.streams[0]).toMatchObject({
      stream: "events",
      seqs: "kept",
      firstSeq: feed.seqs[0],
      lost: feed.lost,
    });
    expect(report.problems).toEqual([
      expect.objectContaining({
        kind: "torn",
        source: expect.stringContaining(feed.tornFile),
        line: feed.tornLine,
        byte: feed.tornByte,
      }),
    ]);
    const { out, lost } = await records(journal, "events");
    expect(out.map((r) => r.seq)).toEqual(feed.seqs);
    expect(out.map((r) => r.timestamp)).toEqual(feed.timestamps);
    expect(lost).toEqual(feed.lost);
  });
});

describe("tidemark import --format seq-len (a terminal bridge's .buf files)", () => {
  it("imports one stream per file with its seqs, records dropped seqs as lost, reports a torn tail", async () => {
    const dir = tempDir("seqlen");
    const buffers = join(dir, "buffers");
    mkdirSync(buffers);
    const a = seqLenFile(join(buffers, "session-a.buf"), { seqs: [1, 2, 3, 7, 8], tornBytes: 5 });
    const b = seqLenFile(join(buffers, "session-b.buf"), { seqs: [0, 1, 2], tornBytes: 0 });
    const journal = join(dir, "journal");
    const result = await tidemark(["import", buffers, "--dir", journal, "--json"]);
    expect(result.code, result.stderr).toBe(3);
    const report = JSON.parse(result.stdout);
    expect(report.problems).toEqual([
      expect.objectContaining({
        kind: "torn",
        source: expect.stringContaining("session-a.buf"),
        byte: a.tornAt,
      }),
    ]);
    const sa = await records(journal, "session-a");
    expect(sa.out.map((r) => [r.seq, r.payload])).toEqual(a.records.map((r) => [r.seq, r.data]));
    expect(sa.lost).toEqual([[4, 6]]);
    expect(new Set(sa.out.map((r) => r.timestamp))).toEqual(new Set([a.mtimeMs]));
    const sb = await records(journal, "session-b");
    expect(sb.out.map((r) => r.seq)).toEqual([1, 2, 3]); // shifted: tidemark seqs start at 1
    expect(report.streams.find((s: { stream: string }) => s.stream === "session-b").note).toMatch(
      /shifted/,
    );
    expect(b.records).toHaveLength(3);
  });

  it("stops at a garbled length and reports the rest of the file", async () => {
    const dir = tempDir("seqlen-garbled");
    const file = join(dir, "s.buf");
    const made = seqLenFile(file, { seqs: [1, 2, 3, 4], tornBytes: 0, garbleLengthOf: 2 });
    const result = await tidemark(["import", file, "--dir", join(dir, "journal"), "--json"]);
    expect(result.code).toBe(3);
    const report = JSON.parse(result.stdout);
    expect(report.problems[0]).toMatchObject({ kind: "garbled", byte: made.garbledAt });
    expect(report.streams[0]).toMatchObject({ records: 2, lastSeq: 2 });
  });
});

describe("tidemark import --format json-buffer (an agent's crash buffer)", () => {
  it("imports each entry with its timestamp, and salvages the complete entries of a cut file", async () => {
    const dir = tempDir("jsonbuf");
    const buffers = join(dir, "buffer");
    mkdirSync(buffers);
    const whole = jsonBuffer(join(buffers, "claude-code.json"), {
      agentType: "claude-code",
      entries: 4,
    });
    const cut = jsonBuffer(join(dir, "claude-code.json.tmp"), {
      agentType: "claude-code",
      entries: 5,
      cutAfter: 3,
    });
    const journal = join(dir, "journal");
    const first = await tidemark(["import", buffers, "--dir", journal, "--json"]);
    expect(first.code, first.stderr).toBe(0);
    const { out } = await records(journal, "claude-code");
    expect(out.map((r) => JSON.parse(r.payload))).toEqual(whole.entries);
    expect(out.map((r) => r.timestamp)).toEqual(whole.entries.map((e) => Date.parse(e.timestamp)));
    const salvaged = await tidemark([
      "import",
      join(dir, "claude-code.json.tmp"),
      "--format",
      "json-buffer",
      "--stream",
      "salvaged",
      "--dir",
      journal,
      "--json",
    ]);
    expect(salvaged.code).toBe(3);
    const report = JSON.parse(salvaged.stdout);
    expect(report.streams[0]).toMatchObject({ stream: "salvaged", records: 3 });
    expect(report.problems[0]).toMatchObject({ kind: "torn", byte: cut.cutByte });
  });
});

describe("tidemark import --format outbox-dir (an offline client's outbox)", () => {
  it("brings pending writes in queue order and keeps conflicts as conflicts; half-written entries are reported", async () => {
    const dir = tempDir("outboxdir");
    const source = outboxDir(join(dir, ".zddc-outbox"));
    const journal = join(dir, "journal");
    const result = await tidemark([
      "import",
      join(dir, ".zddc-outbox"),
      "--outbox",
      "docs",
      "--dir",
      journal,
      "--json",
    ]);
    expect(result.code, result.stderr).toBe(3);
    const report = JSON.parse(result.stdout);
    expect(report.outbox).toEqual({
      outbox: "docs",
      pending: source.pending.length,
      conflicts: source.conflicts.length,
    });
    expect(report.problems).toEqual([
      expect.objectContaining({
        kind: "torn",
        source: expect.stringContaining(source.halfWritten),
      }),
    ]);
    const j = await Journal.open(journal);
    const outbox = await Outbox.open(j, "docs", { upstream: NO_UPSTREAM });
    const pending = outbox.pending(100);
    expect(pending.map((p) => [p.method, p.target])).toEqual(
      source.pending.map((p) => [p.method, p.raw_uri]),
    );
    expect(pending[0]!.precondition).toEqual({
      ifUnmodifiedSince: new Date(source.pending[0]!.base_mod_time).toUTCString(),
    });
    expect(Buffer.from(await outbox.body(pending[0]!.id)).toString()).toBe(source.pending[0]!.body);
    expect(outbox.conflicts().map((c) => c.target)).toEqual(source.conflicts.map((c) => c.raw_uri));
    await outbox.close();
    await j.close();
  });
});

describe("format detection", () => {
  it("tells the formats apart where it can, and asks for --format where it cannot", async () => {
    const dir = tempDir("detect");
    writeFileSync(join(dir, "mystery.txt"), "hello\n");
    const result = await tidemark([
      "import",
      join(dir, "mystery.txt"),
      "--dir",
      join(dir, "journal"),
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/cannot tell the format.*pass --format archive\|ndjson/);
  });
});
