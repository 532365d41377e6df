/**
 * A journal written by format version 1 (test/fixtures/v1-journal) must open and read back
 * exactly, in every later version. This test stays switched on.
 */
import { cpSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Journal, type JournalRecord } from "../../src/index.js";
import { tempDir } from "../support/tmp-dir.js";

const fixture = fileURLToPath(new URL("../fixtures/v1-journal", import.meta.url));
const written = Date.UTC(2026, 10, 22, 12, 0, 0);

async function collect(records: AsyncIterable<JournalRecord>): Promise<JournalRecord[]> {
  const out: JournalRecord[] = [];
  for await (const record of records) out.push(record);
  return out;
}

function checkTimestamps(records: JournalRecord[]): void {
  for (let i = 0; i < records.length; i++) {
    expect(records[i]!.timestamp).toBeGreaterThan(written);
    expect(records[i]!.timestamp).toBeLessThan(written + 7 * 10_000);
    if (i > 0) expect(records[i]!.timestamp).toBeGreaterThanOrEqual(records[i - 1]!.timestamp);
  }
}

describe("format v1 fixture", () => {
  it("reads back every record, attribute and byte (read-only, in place)", async () => {
    const journal = await Journal.open(fixture, { readOnly: true });
    expect(journal.list()).toEqual(["agent/run-42/events", "terminal ✓ bytes"]);
    const events = await journal.stream("agent/run-42/events");
    const records = await collect(events.read({ after: 0 }));
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 123 }, (_, i) => i + 1));
    for (let i = 1; i <= 120; i++) {
      const expected = JSON.stringify({
        i,
        type: i % 3 ? "token" : "tool",
        text: "x".repeat(i % 17),
      });
      expect(Buffer.from(records[i - 1]!.payload).toString()).toBe(expected);
      expect(records[i - 1]!.attributes).toBeUndefined();
    }
    expect(records.slice(120).map((r) => Buffer.from(r.payload).toString())).toEqual([
      "batch-a",
      "batch-b",
      "batch-c",
    ]);
    expect(Buffer.from(records[122]!.attributes!).toString()).toBe("producer:p1:7");
    checkTimestamps(records);
    expect(events.info()).toMatchObject({ firstSeq: 1, lastSeq: 123, records: 123 });

    const binary = await collect((await journal.stream("terminal ✓ bytes")).read({ after: 0 }));
    expect(binary.map((r) => Buffer.from(r.payload))).toEqual([
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
      Buffer.alloc(0),
    ]);
    await journal.close();
  });

  it("opens for writing without repairs and continues the streams", async () => {
    const dir = join(tempDir(), "copy");
    cpSync(fixture, dir, { recursive: true });
    const journal = await Journal.open(dir, { segmentBytesMax: 4096 });
    expect(journal.recovery).toEqual([]);
    expect(journal.recoveryScannedBytes).toBe(0);
    const events = await journal.stream("agent/run-42/events");
    expect((await events.append("new")).seq).toBe(124);
    const tail = await collect(events.read({ after: 121 }));
    expect(tail.map((r) => Buffer.from(r.payload).toString())).toEqual([
      "batch-b",
      "batch-c",
      "new",
    ]);
    await journal.close();
    // Upgraded in place (docs/format.md §10): format 2, a commit log, an id for every stream.
    expect(JSON.parse(readFileSync(join(dir, "tidemark.json"), "utf8")).format).toBe(2);
    expect(readdirSync(join(dir, "log"))).toEqual([]); // closed cleanly: nothing to redo
    for (const stream of readdirSync(join(dir, "streams"))) {
      const descriptor = JSON.parse(
        readFileSync(join(dir, "streams", stream, "stream.json"), "utf8"),
      );
      expect(descriptor.id).toMatch(/^[0-9a-f]{16}$/);
    }
    const again = await Journal.open(dir, { readOnly: true });
    const all = await collect((await again.stream("agent/run-42/events")).read({ after: 0 }));
    expect(all.length).toBe(124);
    await again.close();
  });
});
