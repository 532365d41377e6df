import { existsSync, mkdirSync, readdirSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { indexFileName, segmentFileName } from "../../../src/format/segment-name.js";
import { Journal, type JournalRecord } from "../../../src/index.js";
import { SILENT_LOGGER } from "../../../src/logger.js";
import { streamIdentity } from "../../../src/storage/stream/stream-name.js";
import { tempDir } from "../../support/tmp-dir.js";

const streamDir = (dir: string, name: string) => join(dir, "streams", streamIdentity(name).dirName);
const payload = (i: number) => `r${i}:${"t".repeat(60)}`;

async function collect(records: AsyncIterable<JournalRecord>): Promise<number[]> {
  const seqs: number[] = [];
  for await (const record of records) seqs.push(record.seq);
  return seqs;
}

async function filled(count: number, segmentBytesMax = 4096) {
  const dir = tempDir();
  const journal = await Journal.open(dir, { segmentBytesMax, durability: "none" });
  const stream = await journal.stream("s");
  for (let i = 1; i <= count; i += 10)
    await stream.appendMany(Array.from({ length: 10 }, (_, k) => payload(i + k)));
  return { dir, journal, stream };
}

describe("cursors that expire loudly", () => {
  it("fails a read from before the first retained seq with CURSOR_EXPIRED, carrying firstSeq", async () => {
    const { journal, stream } = await filled(500);
    await stream.trim({ before: 201 });
    expect(stream.info().firstSeq).toBe(201);
    await expect(collect(stream.read({ after: 0 }))).rejects.toMatchObject({
      code: "CURSOR_EXPIRED",
      firstSeq: 201,
    });
    await expect(collect(stream.read({ after: 199 }))).rejects.toMatchObject({
      code: "CURSOR_EXPIRED",
    });
    expect((await collect(stream.read({ after: 200 })))[0]).toBe(201);
    expect((await collect(stream.read()))[0]).toBe(201); // no `after`: from the oldest retained
    await expect(collect(stream.follow({ after: 10 }))).rejects.toMatchObject({
      code: "CURSOR_EXPIRED",
    });
    await journal.close();
  });

  it("ends a follow that retention overtakes with CURSOR_EXPIRED, never skipping records", async () => {
    const journal = await Journal.open(tempDir(), {
      durability: "none",
      segmentBytesMax: 16 * 1024,
    });
    const stream = await journal.stream("ring", { limits: { recordsMax: 200 } });
    await stream.appendMany(Array.from({ length: 100 }, (_, i) => payload(i + 1)));
    const seen: number[] = [];
    let ended: unknown;
    const follower = (async () => {
      try {
        for await (const record of stream.follow({ after: 0 })) {
          seen.push(record.seq);
          await new Promise((resolve) => setTimeout(resolve, 2)); // a slow reader
        }
      } catch (err) {
        ended = err;
      }
    })();
    for (let i = 101; i <= 3000; i += 10) {
      await stream.appendMany(Array.from({ length: 10 }, (_, k) => payload(i + k)));
    }
    await follower;
    expect(ended).toMatchObject({ code: "CURSOR_EXPIRED" });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => i + 1)); // no gap before the end
    await journal.close();
  });
});

describe("trim", () => {
  it("releases records below a seq, keeps the point across a reopen, and removes whole segments", async () => {
    const { dir, journal, stream } = await filled(1000);
    const before = readdirSync(streamDir(dir, "s")).filter((f) => f.endsWith(".seg")).length;
    await stream.trim({ before: 555 });
    expect(stream.info()).toMatchObject({ firstSeq: 555, lastSeq: 1000, records: 446 });
    const after = readdirSync(streamDir(dir, "s")).filter((f) => f.endsWith(".seg")).length;
    expect(after).toBeLessThan(before);
    await expect(stream.trim({ before: 2000 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await stream.trim({ before: 100 }); // below the point: nothing changes
    expect(stream.info().firstSeq).toBe(555);
    expect((await journal.stats()).trimmed.records).toBeGreaterThan(0);
    await journal.close();
    const again = await Journal.open(dir, { segmentBytesMax: 4096 });
    const reopened = await again.stream("s");
    expect(reopened.info().firstSeq).toBe(555);
    expect((await collect(reopened.read()))[0]).toBe(555);
    await reopened.trim({ before: 1001 }); // everything
    expect(reopened.info()).toMatchObject({ firstSeq: 1001, lastSeq: 1000, records: 0 });
    expect((await reopened.append("next")).seq).toBe(1001);
    await again.close();
  });

  it("finishes after a crash between storing the point and removing the segments", async () => {
    const { dir, journal, stream } = await filled(1000);
    await journal.close();
    // The state a crash leaves: stream.json has the point, the segments below are still there.
    const path = join(streamDir(dir, "s"), "stream.json");
    const descriptor = JSON.parse((await import("node:fs")).readFileSync(path, "utf8"));
    writeFileSync(path, JSON.stringify({ ...descriptor, trimmedBefore: 700 }));
    const again = await Journal.open(dir, { segmentBytesMax: 4096 });
    const reopened = await again.stream("s");
    expect(reopened.info().firstSeq).toBe(700);
    await again.runMaintenance();
    const bases = readdirSync(streamDir(dir, "s"))
      .filter((f) => f.endsWith(".seg"))
      .map((f) => Number(f.slice(0, 20)));
    expect(Math.min(...bases)).toBeGreaterThan(600); // whole segments below 700 are gone
    expect(stream.info().lastSeq).toBe(1000);
    await again.close();
  });
});

describe("deleteStream", () => {
  it("removes the stream and its files atomically, ends its followers, and frees the name", async () => {
    const { dir, journal, stream } = await filled(100);
    const follower = (async () => {
      const seen: number[] = [];
      for await (const record of stream.follow()) seen.push(record.seq);
      return seen;
    })();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await journal.deleteStream("s")).toBe(true);
    expect((await follower).length).toBe(100);
    expect(journal.list()).toEqual([]);
    expect(readdirSync(join(dir, "streams"))).toEqual([]);
    await expect(stream.append("x")).rejects.toMatchObject({ code: "CLOSED" });
    expect(await journal.deleteStream("s")).toBe(false);
    const fresh = await journal.stream("s");
    expect(fresh.info()).toMatchObject({ lastSeq: 0, records: 0 });
    expect((await journal.stats()).streamsDeleted).toBe(1);
    await journal.close();
  });

  it("leaves the stream gone if a crash interrupts the removal of its files", async () => {
    const { dir, journal } = await filled(100);
    await journal.close();
    // The state a crash leaves after the rename, before the files are removed.
    renameSync(streamDir(dir, "s"), join(dir, "streams", ".del-0123456789abcdef"));
    const again = await Journal.open(dir);
    expect(again.list()).toEqual([]);
    expect(again.recovery).toEqual([
      expect.objectContaining({ kind: "removed-temp", path: ".del-0123456789abcdef" }),
    ]);
    expect(readdirSync(join(dir, "streams"))).toEqual([]);
    await again.close();
  });
});

describe("eviction interrupted by a crash", () => {
  it("opens cleanly when an index was removed and its segment was not", async () => {
    const { dir, journal } = await filled(600);
    await journal.close();
    unlinkSync(join(streamDir(dir, "s"), indexFileName(1)));
    const again = await Journal.open(dir, { segmentBytesMax: 4096 });
    expect(again.recovery).toEqual([]);
    expect((await collect((await again.stream("s")).read({ after: 0 }))).length).toBe(600);
    await again.close();
  });

  it("treats a removed oldest segment as released: firstSeq moves on, nothing else changes", async () => {
    const { dir, journal } = await filled(600);
    await journal.close();
    const bases = readdirSync(streamDir(dir, "s"))
      .filter((f) => f.endsWith(".seg"))
      .map((f) => Number(f.slice(0, 20)))
      .sort((a, b) => a - b);
    unlinkSync(join(streamDir(dir, "s"), segmentFileName(bases[0]!)));
    const again = await Journal.open(dir, { segmentBytesMax: 4096 });
    const stream = await again.stream("s");
    expect(stream.info()).toMatchObject({ firstSeq: bases[1], lastSeq: 600 });
    expect(await collect(stream.read())).toEqual(
      Array.from({ length: 600 - bases[1]! + 1 }, (_, i) => bases[1]! + i),
    );
    await again.close();
  });
});

describe("idle streams", () => {
  it("are deleted by the sweeper once untouched for streamIdleMsMax, logged and counted; reads count as use", async () => {
    let now = 1_000_000;
    const logged: Array<{ fields: Record<string, unknown>; message: string }> = [];
    const journal = await Journal.open(tempDir(), {
      clock: () => now,
      limits: { streamIdleMsMax: 60_000 },
      logger: {
        ...SILENT_LOGGER,
        info: (fields, message) => {
          logged.push({ fields, message });
        },
      },
    });
    const idle = await journal.stream("idle");
    const read = await journal.stream("read");
    const written = await journal.stream("written");
    for (const stream of [idle, read, written]) await stream.append("x");
    now += 50_000;
    await collect(read.read());
    await written.append("y");
    now += 20_000; // idle: 70 s untouched; the others 20 s
    await journal.runMaintenance();
    expect(journal.list()).toEqual(["read", "written"]);
    expect(logged).toEqual([
      expect.objectContaining({
        message: "deleted an idle stream",
        fields: expect.objectContaining({ stream: "idle" }),
      }),
    ]);
    expect((await journal.stats()).streamsSwept).toBe(1);
    await journal.close();
  });
});

describe("stats", () => {
  it("adds up streams, bytes, records and timestamps", async () => {
    let now = 5_000;
    const journal = await Journal.open(tempDir(), { clock: () => now });
    const a = await journal.stream("a");
    const b = await journal.stream("b");
    await a.appendMany(["1", "2", "3"]);
    now = 9_000;
    await b.append("4");
    const stats = await journal.stats();
    expect(stats).toMatchObject({
      streams: 2,
      records: 4,
      oldestTimestamp: 5_000,
      newestTimestamp: 9_000,
    });
    expect(stats.bytes).toBe(a.info().bytes + b.info().bytes);
    expect(stats.diskFreeBytes).toBeGreaterThan(0);
    await journal.close();
  });
});

describe("quarantine and consumers directories", () => {
  it("are not mistaken for unknown files", async () => {
    const { dir, journal } = await filled(10);
    await journal.close();
    mkdirSync(join(streamDir(dir, "s"), "quarantine"));
    const again = await Journal.open(dir);
    expect(again.recovery).toEqual([]);
    expect(existsSync(join(streamDir(dir, "s"), "quarantine"))).toBe(true);
    await again.close();
  });
});
