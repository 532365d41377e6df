import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Journal, type JournalRecord } from "../../../src/index.js";
import { streamIdentity } from "../../../src/storage/stream/stream-name.js";
import { tempDir } from "../../support/tmp-dir.js";

const RECORD = 28 + 100; // header + a 100-byte payload
const payload = (i: number) => `${String(i).padStart(8, "0")}${"p".repeat(92)}`;

async function seqs(records: AsyncIterable<JournalRecord>): Promise<number[]> {
  const out: number[] = [];
  for await (const record of records) out.push(record.seq);
  return out;
}

function segmentFiles(dir: string, name: string): string[] {
  return readdirSync(join(dir, "streams", streamIdentity(name).dirName)).filter((f) =>
    f.endsWith(".seg"),
  );
}

describe("stream limits, discard 'old': a ring buffer", () => {
  it("keeps the newest data within bytesMax, never more than one segment over, and counts evictions", async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir, { durability: "none" });
    const bytesMax = 64 * 1024;
    const stream = await journal.stream("ring", { limits: { bytesMax } });
    const segmentBytes = bytesMax / 8;
    let peak = 0;
    for (let i = 1; i <= 3000; i++) {
      await stream.append(payload(i));
      peak = Math.max(peak, stream.info().bytes);
    }
    await journal.runMaintenance();
    const info = stream.info();
    expect(peak).toBeLessThan(bytesMax + segmentBytes + RECORD);
    expect(info.bytes).toBeLessThan(bytesMax + segmentBytes);
    expect(info.bytes).toBeGreaterThanOrEqual(bytesMax);
    expect(info.lastSeq).toBe(3000);
    expect(info.firstSeq).toBeGreaterThan(1);
    expect(await seqs(stream.read())).toEqual(
      Array.from({ length: info.records }, (_, i) => info.firstSeq + i),
    );
    expect(segmentFiles(dir, "ring").length).toBeLessThanOrEqual(9);
    const stats = await journal.stats();
    expect(stats.evictions.records).toBe(info.firstSeq - 1);
    expect(stats.evictions.segments).toBeGreaterThan(0);
    await journal.close();
  });

  it("keeps at least recordsMax records and at most a segment (an eighth) more", async () => {
    const journal = await Journal.open(tempDir(), { durability: "none" });
    const stream = await journal.stream("ring", { limits: { recordsMax: 800 } });
    for (let i = 1; i <= 5000; i++) {
      await stream.append(payload(i));
      expect(stream.info().records).toBeLessThanOrEqual(800 + 100);
    }
    const { records, firstSeq, lastSeq } = stream.info();
    expect(records).toBeLessThanOrEqual(900);
    expect(records).toBeGreaterThanOrEqual(800);
    expect(lastSeq - firstSeq + 1).toBe(records);
    await journal.close();
  });

  it("expires records older than ageMsMax on a timer, without new appends", async () => {
    let now = 1_000_000;
    const journal = await Journal.open(tempDir(), { clock: () => now });
    const stream = await journal.stream("aging", { limits: { ageMsMax: 10_000 } });
    for (let i = 1; i <= 50; i++) {
      now += 100;
      await stream.append(payload(i)); // 100 ms apart: spans 5 s, several segments
    }
    expect(stream.info().records).toBe(50);
    now += 7_000; // the oldest are now 12 s old, the newest 7 s
    await journal.runMaintenance();
    const partly = stream.info();
    expect(partly.firstSeq).toBeGreaterThan(1);
    expect(partly.lastSeq).toBe(50);
    now += 10_000; // everything is past the age
    await journal.runMaintenance();
    expect(stream.info()).toMatchObject({ firstSeq: 51, lastSeq: 50, records: 0 });
    expect((await stream.append("new")).seq).toBe(51);
    const stats = await journal.stats();
    expect(stats.expiries.records).toBe(50);
    await journal.close();
  });

  it("applies lowered limits segment by segment, and keeps them across a reopen", async () => {
    const dir = tempDir();
    let journal = await Journal.open(dir, { durability: "none", segmentBytesMax: 32 * 1024 });
    let stream = await journal.stream("s");
    for (let i = 1; i <= 2000; i++) await stream.append(payload(i));
    expect(stream.info().records).toBe(2000);
    await stream.configure({ limits: { recordsMax: 400 } });
    // Whole old segments (about 250 records of 32 KiB here) went at once; the stream is over by
    // less than the one segment that straddles the limit.
    const { records } = stream.info();
    expect(records).toBeLessThan(400 + 256);
    expect(records).toBeGreaterThanOrEqual(400);
    await journal.close();
    journal = await Journal.open(dir, { durability: "none", segmentBytesMax: 32 * 1024 });
    stream = await journal.stream("s");
    expect(stream.limits).toEqual({ recordsMax: 400, discard: "old" });
    for (let i = 2001; i <= 3000; i++) await stream.append(payload(i));
    expect(stream.info().records).toBeLessThanOrEqual(400 + 50);
    expect(stream.info().records).toBeGreaterThanOrEqual(400);
    await journal.close();
  });

  it("rejects invalid limits by name and changes nothing", async () => {
    const journal = await Journal.open(tempDir());
    await expect(journal.stream("s", { limits: { bytesMax: -5 } })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(journal.stream("s", { limits: { recordsMax: 1.5 } })).rejects.toThrow(
      /recordsMax/,
    );
    await expect(journal.stream("s", { limits: { discard: "sideways" as "old" } })).rejects.toThrow(
      /discard/,
    );
    await expect(journal.stream("s", { limits: { size: 1 } as never })).rejects.toThrow(
      /unknown limit/,
    );
    await expect(journal.stream("s", { retention: "forever" as "acked" })).rejects.toThrow(
      /retention/,
    );
    expect(journal.list()).toEqual([]);
    await journal.close();
  });
});

describe("stream limits, discard 'new'", () => {
  it("rejects with STREAM_FULL and changes nothing once recordsMax is reached, exactly under concurrency", async () => {
    const journal = await Journal.open(tempDir());
    const stream = await journal.stream("capped", { limits: { recordsMax: 100, discard: "new" } });
    await stream.appendMany(Array.from({ length: 90 }, (_, i) => payload(i)));
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => stream.append(payload(100 + i))),
    );
    const accepted = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r) => r.status === "rejected");
    expect(accepted).toHaveLength(10);
    for (const r of refused)
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: "STREAM_FULL" });
    expect(stream.info()).toMatchObject({ records: 100, lastSeq: 100 });
    await expect(stream.appendMany(["a", "b"])).rejects.toMatchObject({ code: "STREAM_FULL" });
    expect(stream.info().lastSeq).toBe(100);
    expect((await journal.stats()).rejected.STREAM_FULL).toBe(41);
    await stream.trim({ before: 51 });
    expect((await stream.append("room again")).seq).toBe(101);
    await journal.close();
  });

  it("never lets bytes on disk pass bytesMax", async () => {
    const journal = await Journal.open(tempDir());
    const bytesMax = 32 * 1024;
    const stream = await journal.stream("capped", { limits: { bytesMax, discard: "new" } });
    let refusedAt = 0;
    for (let i = 1; i <= 1000; i++) {
      try {
        await stream.append(payload(i));
      } catch (err) {
        expect(err).toMatchObject({ code: "STREAM_FULL" });
        refusedAt = i;
        break;
      }
    }
    expect(refusedAt).toBeGreaterThan(200);
    const { bytes, lastSeq } = stream.info();
    expect(bytes).toBeLessThanOrEqual(bytesMax);
    expect(bytes).toBeGreaterThan(bytesMax - 2 * RECORD - 64);
    expect(lastSeq).toBe(refusedAt - 1);
    await journal.close();
  });
});
