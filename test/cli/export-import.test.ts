/**
 * `tidemark export` and `tidemark import` as real processes: an archive restores every stream
 * byte for byte (seqs, timestamps, attributes, metadata, limits, consumers, lost seqs, a first
 * seq past 1), through a file or a pipe; NDJSON both ways; raw payloads; a damaged or cut
 * archive is reported by byte offset and imports nothing of the stream it hit.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Journal } from "../../src/index.js";
import { tidemark } from "../support/cli.js";
import { tempDir } from "../support/tmp-dir.js";

interface Dumped {
  seq: number;
  timestamp: number;
  payload: string;
  attributes: string | null;
}

async function dump(dir: string): Promise<Record<string, { info: unknown; records: Dumped[] }>> {
  const journal = await Journal.open(dir, { readOnly: true });
  const all: Record<string, { info: unknown; records: Dumped[] }> = {};
  try {
    for (const name of journal.list()) {
      const stream = await journal.stream(name);
      const records: Dumped[] = [];
      for await (const r of stream.read()) {
        records.push({
          seq: r.seq,
          timestamp: r.timestamp,
          payload: Buffer.from(r.payload).toString("hex"),
          attributes: r.attributes === undefined ? null : Buffer.from(r.attributes).toString("hex"),
        });
      }
      const { bytes: _bytes, ...info } = stream.info();
      all[name] = {
        info: {
          ...info,
          meta: stream.meta,
          limits: stream.limits,
          retention: stream.retention,
          lost: stream.lost,
          consumers: stream.consumers().map((c) => [c.name, c.position]),
        },
        records,
      };
    }
  } finally {
    await journal.close();
  }
  return all;
}

let source: string;

beforeAll(async () => {
  source = tempDir("export-src");
  const journal = await Journal.open(source, { segmentBytesMax: 8192 });
  const events = await journal.stream("agent/run-1/events", {
    limits: { recordsMax: 100_000 },
    meta: { ds: { contentType: "application/json" } },
  });
  for (let i = 0; i < 300; i++) {
    await events.appendMany(
      [JSON.stringify({ type: "token", i }), `text ${i}`],
      i % 7 === 0 ? { attributes: Buffer.from(`attr-${i}`) } : {},
    );
  }
  await events.consumer("indexer").ack(123);
  const bytes = await journal.stream("term/7/bytes");
  await bytes.append(Buffer.from([0, 1, 2, 3, 255, 10, 13]));
  for (let i = 0; i < 200; i++) await bytes.append(Buffer.alloc(100, i));
  await bytes.trim({ before: 150 }); // a first seq past 1
  await journal.stream("empty");
  await journal.close();
});

describe("tidemark export --format archive | import", () => {
  it("restores every stream byte for byte, through a file", async () => {
    const archive = join(tempDir("archive"), "all.tmar");
    const exported = await tidemark(["export", "--all", "--dir", source, "-o", archive, "--json"]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(JSON.parse(exported.stderr)).toMatchObject({
      format: "archive",
      records: expect.any(Number),
    });
    const target = join(tempDir("import"), "journal");
    const imported = await tidemark(["import", archive, "--dir", target, "--json"]);
    expect(imported.code, imported.stderr).toBe(0);
    const report = JSON.parse(imported.stdout);
    expect(report.streams.map((s: { stream: string }) => s.stream).sort()).toEqual([
      "agent/run-1/events",
      "empty",
      "term/7/bytes",
    ]);
    expect(report.problems).toEqual([]);
    const before = await dump(source);
    const after = await dump(target);
    expect(after).toEqual(before);
    expect((after["term/7/bytes"]!.info as { firstSeq: number }).firstSeq).toBeGreaterThan(1);
  });

  it("pipes: export to stdout, import from stdin, and appends continue after the last seq", async () => {
    const exported = await tidemark(["export", "agent/run-1/events", "--dir", source, "--quiet"]);
    expect(exported.code).toBe(0);
    const target = join(tempDir("pipe"), "journal");
    const imported = await tidemark(["import", "-", "--format", "archive", "--dir", target], {
      input: exported.bytes,
    });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(
      /imported agent\/run-1\/events: 600 records, seqs 1\.\.600 \(kept\)/,
    );
    const journal = await Journal.open(target);
    const stream = await journal.stream("agent/run-1/events");
    expect((await stream.append("next")).seq).toBe(601);
    await journal.close();
  });

  it("exports only what follows --after, and refuses to import over an existing stream", async () => {
    const exported = await tidemark([
      "export",
      "agent/run-1/events",
      "--after",
      "590",
      "--dir",
      source,
      "--quiet",
    ]);
    const target = join(tempDir("after"), "journal");
    const first = await tidemark(
      ["import", "-", "--format", "archive", "--dir", target, "--json"],
      { input: exported.bytes },
    );
    expect(JSON.parse(first.stdout).streams[0]).toMatchObject({
      records: 10,
      firstSeq: 591,
      lastSeq: 600,
    });
    const again = await tidemark(["import", "-", "--format", "archive", "--dir", target], {
      input: exported.bytes,
    });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists.*\[STREAM_EXISTS\]/);
    const renamed = await tidemark(
      ["import", "-", "--format", "archive", "--stream", "copy", "--dir", target],
      { input: exported.bytes },
    );
    expect(renamed.code, renamed.stderr).toBe(0);
    expect((await dump(target))["copy"]!.records.map((r) => r.seq)).toEqual([
      591, 592, 593, 594, 595, 596, 597, 598, 599, 600,
    ]);
  });

  it("reports a changed byte or a cut archive by offset, and imports nothing of the stream it hit", async () => {
    const exported = await tidemark(["export", "--all", "--dir", source, "--quiet"]);
    const bytes = exported.bytes;
    const garbled = Buffer.from(bytes);
    const at = 2000; // inside the first stream's records
    garbled[at]! ^= 0x40;
    const dir = tempDir("damaged");
    writeFileSync(join(dir, "garbled.tmar"), garbled);
    writeFileSync(join(dir, "cut.tmar"), bytes.subarray(0, bytes.byteLength - 30));
    const g = await tidemark([
      "import",
      join(dir, "garbled.tmar"),
      "--dir",
      join(dir, "j1"),
      "--json",
    ]);
    expect(g.code).toBe(3);
    const gr = JSON.parse(g.stdout);
    expect(gr.streams).toEqual([]);
    expect(gr.problems[0]).toMatchObject({ kind: "garbled" });
    expect(gr.problems[0].byte).toBeLessThanOrEqual(at);
    expect(gr.problems[0].byte).toBeGreaterThan(at - 200);
    const c = await tidemark(["import", join(dir, "cut.tmar"), "--dir", join(dir, "j2")]);
    expect(c.code).toBe(3);
    expect(c.stdout).toMatch(/imported agent\/run-1\/events: 600 records/);
    expect(c.stdout).toMatch(/torn: .*cut\.tmar \(byte \d+\): the archive ends/);
    expect(Object.keys(await dump(join(dir, "j2")))).toEqual(["agent/run-1/events", "empty"]);
  });
});

describe("tidemark export --format ndjson | raw", () => {
  it("writes one line per record, JSON payloads as JSON, and imports back with seqs and timestamps", async () => {
    const exported = await tidemark([
      "export",
      "agent/run-1/events",
      "--format",
      "ndjson",
      "--dir",
      source,
      "--quiet",
    ]);
    const lines = exported.stdout.trim().split("\n");
    expect(lines).toHaveLength(600);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      stream: "agent/run-1/events",
      seq: 1,
      json: { type: "token", i: 0 },
    });
    expect(JSON.parse(lines[1]!)).toMatchObject({
      seq: 2,
      text: "text 0",
      attributes: Buffer.from("attr-0").toString("base64"),
    });
    const file = join(tempDir("ndjson"), "events.ndjson");
    writeFileSync(file, exported.bytes);
    const target = join(tempDir("ndjson-import"), "journal");
    const imported = await tidemark(["import", file, "--dir", target]);
    expect(imported.code, imported.stderr).toBe(0);
    const before = (await dump(source))["agent/run-1/events"]!.records;
    expect((await dump(target))["agent/run-1/events"]!.records).toEqual(before);
  });

  it("writes a stream's payloads back to back with --format raw", async () => {
    const exported = await tidemark([
      "export",
      "term/7/bytes",
      "--format",
      "raw",
      "--dir",
      source,
      "--quiet",
    ]);
    expect(exported.code).toBe(0);
    const records = (await dump(source))["term/7/bytes"]!.records;
    expect(exported.bytes.toString("hex")).toBe(records.map((r) => r.payload).join(""));
    const two = await tidemark(["export", "--all", "--format", "raw", "--dir", source]);
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/exactly one stream/);
  });
});

describe("exported files", () => {
  it("start with the archive magic and end with the archive end", async () => {
    const file = join(tempDir("magic"), "a.tmar");
    await tidemark(["export", "empty", "--dir", source, "-o", file, "--quiet"]);
    const bytes = readFileSync(file);
    expect(bytes.subarray(0, 4).toString()).toBe("TMAR");
    expect(bytes.subarray(bytes.byteLength - 20, bytes.byteLength - 16).toString()).toBe("TMAE");
  });
});
