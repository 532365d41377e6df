import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Journal, type JournalRecord } from "../../../src/index.js";
import { tempDir } from "../../support/tmp-dir.js";

async function collect(records: AsyncIterable<JournalRecord>): Promise<JournalRecord[]> {
  const out: JournalRecord[] = [];
  for await (const record of records) out.push({ ...record, payload: Buffer.from(record.payload) });
  return out;
}

const text = (record: JournalRecord) => Buffer.from(record.payload).toString("utf8");

describe("journal: appends and reads", () => {
  it("gives contiguous seqs from 1 and reads back exactly the bytes appended", async () => {
    const journal = await Journal.open(tempDir());
    const stream = await journal.stream("events");
    expect(stream.info().lastSeq).toBe(0);
    const a = await stream.append("first");
    const binary = new Uint8Array([0, 255, 1, 254, 0]);
    const b = await stream.append(binary);
    const many = await stream.appendMany(["x", "", "zäöü✓"]);
    expect([a.seq, b.seq, ...many]).toEqual([1, 2, 3, 4, 5]);
    const records = await collect(stream.read({ after: 0 }));
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(text(records[0]!)).toBe("first");
    expect(Buffer.from(records[1]!.payload)).toEqual(Buffer.from(binary));
    expect(records.slice(2).map(text)).toEqual(["x", "", "zäöü✓"]);
    expect(records[0]!.timestamp).toBe(a.timestamp);
    await journal.close();
  });

  it("reads after a seq, up to a limit", async () => {
    const journal = await Journal.open(tempDir());
    const stream = await journal.stream("s");
    await stream.appendMany(Array.from({ length: 100 }, (_, i) => `r${i + 1}`));
    expect((await collect(stream.read({ after: 40, limit: 5 }))).map(text)).toEqual([
      "r41",
      "r42",
      "r43",
      "r44",
      "r45",
    ]);
    expect(await collect(stream.read({ after: 100 }))).toEqual([]);
    expect((await collect(stream.read())).length).toBe(100);
    await journal.close();
  });

  it("keeps everything across close and reopen, and continues the seqs", async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir);
    const stream = await journal.stream("s");
    await stream.appendMany(["a", "b", "c"]);
    const before = stream.info();
    await journal.close();
    const again = await Journal.open(dir);
    expect(again.list()).toEqual(["s"]);
    const reopened = await again.stream("s");
    expect(reopened.info()).toEqual(before);
    expect((await reopened.append("d")).seq).toBe(4);
    expect((await collect(reopened.read({ after: 0 }))).map(text)).toEqual(["a", "b", "c", "d"]);
    expect(again.recovery).toEqual([]);
    await again.close();
  });

  it("rotates segments at segmentBytesMax and reads across them", async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir, { segmentBytesMax: 8192 });
    const stream = await journal.stream("s");
    const payloads = Array.from({ length: 300 }, (_, i) => `${i}:${"x".repeat(50 + (i % 50))}`);
    for (const payload of payloads.slice(0, 100)) await stream.append(payload);
    for (let k = 100; k < 200; k += 25) await stream.appendMany(payloads.slice(k, k + 25));
    await Promise.all(payloads.slice(200).map((payload) => stream.append(payload)));
    const segments = readdirSync(
      join(dir, "streams", readdirSync(join(dir, "streams"))[0]!),
    ).filter((f) => f.endsWith(".seg"));
    expect(segments.length).toBeGreaterThan(3);
    const records = await collect(stream.read({ after: 0 }));
    expect(records.map((r) => r.seq)).toEqual(payloads.map((_, i) => i + 1));
    expect(new Set(records.map(text))).toEqual(new Set(payloads));
    expect((await collect(stream.read({ after: 150, limit: 3 }))).map((r) => r.seq)).toEqual([
      151, 152, 153,
    ]);
    await journal.close();
    const again = await Journal.open(dir, { segmentBytesMax: 8192 });
    const reopened = await again.stream("s");
    expect((await collect(reopened.read({ after: 0 }))).length).toBe(300);
    await again.close();
  });

  it("keeps appendMany batches contiguous under concurrent appends", async () => {
    const journal = await Journal.open(tempDir());
    const stream = await journal.stream("s");
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        i % 2
          ? stream.appendMany([`${i}a`, `${i}b`, `${i}c`])
          : stream.append(`${i}`).then((r) => [r.seq]),
      ),
    );
    for (const seqs of results)
      for (let k = 1; k < seqs.length; k++) expect(seqs[k]).toBe(seqs[k - 1]! + 1);
    const all = results.flat().sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
    await journal.close();
  });

  it("stores and returns record attributes", async () => {
    const journal = await Journal.open(tempDir());
    const stream = await journal.stream("s");
    await stream.append("p", { attributes: new Uint8Array([9, 8, 7]) });
    await stream.append("q");
    const [withAttrs, without] = await collect(stream.read({ after: 0 }));
    expect(Buffer.from(withAttrs!.attributes!)).toEqual(Buffer.from([9, 8, 7]));
    expect(text(withAttrs!)).toBe("p");
    expect(without!.attributes).toBeUndefined();
    await journal.close();
  });

  it("writes large payloads in place, mixed with small ones, byte-exact across a reopen", async () => {
    const dir = tempDir();
    let now = 5_000_000;
    const journal = await Journal.open(dir, { clock: () => now });
    const stream = await journal.stream("big");
    // Sizes around the in-place threshold (64 KiB) and across several index intervals.
    const sizes = [10, 65_535, 65_536, 65_537, 300_000, 7, 1_048_576, 200, 131_072];
    const payloads = sizes.map((size, i) => {
      const bytes = Buffer.alloc(size);
      for (let k = 0; k < size; k++) bytes[k] = (k * 31 + i * 7) & 0xff;
      return bytes;
    });
    const attributes = new Uint8Array([9, 8, 7]);
    const results = await Promise.all(
      payloads.map((payload, i) => {
        now += 1000;
        return stream.append(payload, i % 2 === 0 ? { attributes } : {});
      }),
    );
    expect(results.map((r) => r.seq)).toEqual(sizes.map((_, i) => i + 1));
    await journal.close();

    const reopened = await Journal.open(dir);
    expect(reopened.recovery).toEqual([]);
    const back = await collect((await reopened.stream("big")).read({ after: 0 }));
    expect(back.map((r) => Buffer.compare(Buffer.from(r.payload), payloads[r.seq - 1]!))).toEqual(
      sizes.map(() => 0),
    );
    expect(back.map((r) => r.attributes !== undefined)).toEqual(sizes.map((_, i) => i % 2 === 0));
    // The sparse index points into the large records: a read by time starts at the right one.
    const fromSeven = await collect(
      (await reopened.stream("big")).read({ fromTime: results[6]!.timestamp }),
    );
    expect(fromSeven[0]!.seq).toBe(7);
    await reopened.close();
  });

  it("reads by time through the index", async () => {
    let now = 1_000_000;
    const journal = await Journal.open(tempDir(), { segmentBytesMax: 16 * 1024, clock: () => now });
    const stream = await journal.stream("s");
    for (let i = 0; i < 2000; i++) {
      now += 10;
      await stream.append(`t${now}:${"y".repeat(40)}`, {});
    }
    const from = 1_000_000 + 10 * 1234;
    const to = from + 10 * 5;
    const records = await collect(stream.read({ fromTime: from, toTime: to }));
    expect(records.map((r) => r.timestamp)).toEqual([0, 1, 2, 3, 4, 5].map((k) => from + 10 * k));
    expect(records[0]!.seq).toBe(1234);
    expect(await collect(stream.read({ fromTime: new Date(now + 1) }))).toEqual([]);
    await journal.close();
  });

  it("lists streams with any name and keeps them apart", async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir);
    const names = [
      "a",
      "a/b",
      "../../etc/passwd",
      "with space",
      "ünï©ødé ✓",
      ".",
      "..",
      "x".repeat(255),
      "A",
      "CON",
    ];
    for (const name of names) await (await journal.stream(name)).append(name);
    expect(journal.list()).toEqual([...names].sort());
    for (const name of names) {
      const records = await collect((await journal.stream(name)).read({ after: 0 }));
      expect(records.map(text)).toEqual([name]);
    }
    const dirs = readdirSync(join(dir, "streams"));
    expect(dirs.length).toBe(names.length);
    for (const d of dirs) expect(d).toMatch(/^[A-Za-z0-9_][A-Za-z0-9._-]*-[0-9a-f]{32}$/);
    expect(readdirSync(dir).sort()).toEqual(["lock", "log", "streams", "tidemark.json"]);
    await journal.close();
  });
});

describe("journal: bad input gets a typed error and changes nothing", () => {
  it("rejects invalid stream names", async () => {
    const journal = await Journal.open(tempDir());
    for (const name of [
      "",
      "x".repeat(256),
      "a\u0000b",
      "\ud800",
      42 as unknown as string,
      "é".repeat(128),
    ]) {
      await expect(journal.stream(name)).rejects.toMatchObject({ code: "INVALID_NAME" });
    }
    expect(journal.list()).toEqual([]);
    await journal.close();
  });

  it("rejects bad payloads, records too large, bad offsets and limits", async () => {
    const journal = await Journal.open(tempDir(), { recordBytesMax: 1024 });
    const stream = await journal.stream("s");
    await stream.append("ok");
    await expect(stream.append(42 as unknown as string)).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(stream.append(null as unknown as string)).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(stream.append("x".repeat(1025))).rejects.toMatchObject({
      code: "RECORD_TOO_LARGE",
    });
    await expect(stream.appendMany(["a", "x".repeat(2000)])).rejects.toMatchObject({
      code: "RECORD_TOO_LARGE",
    });
    await expect(stream.appendMany("abc" as unknown as string[])).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    expect(() => stream.read({ after: -1 })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    expect(() => stream.read({ after: 1.5 })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    expect(() => stream.read({ limit: 0 })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    expect(() => stream.read({ fromTime: Number.NaN })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    await expect(collect(stream.read({ after: 5 }))).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    expect(stream.info().lastSeq).toBe(1);
    expect(await stream.appendMany([])).toEqual([]);
    await journal.close();
  });

  it("rejects a batch larger than a segment", async () => {
    const journal = await Journal.open(tempDir(), { segmentBytesMax: 4096, recordBytesMax: 1000 });
    const stream = await journal.stream("s");
    await expect(
      stream.appendMany(Array.from({ length: 10 }, () => "x".repeat(900))),
    ).rejects.toMatchObject({ code: "BATCH_TOO_LARGE" });
    expect(stream.info().lastSeq).toBe(0);
    await journal.close();
  });

  it("rejects invalid options by name", async () => {
    const dir = tempDir();
    await expect(Journal.open(dir, { durability: "sometimes" as "always" })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(Journal.open(dir, { segmentBytesMax: 10 })).rejects.toThrow(/segmentBytesMax/);
    await expect(Journal.open(dir, { syncIntervalMs: 0 })).rejects.toThrow(/syncIntervalMs/);
    await expect(Journal.open(dir, { recordBytesMax: 2 ** 40 })).rejects.toThrow(/recordBytesMax/);
  });

  it("fails with CLOSED after close, and close finishes appends already accepted", async () => {
    const journal = await Journal.open(tempDir());
    const stream = await journal.stream("s");
    const pending = Array.from({ length: 20 }, (_, i) => stream.append(`${i}`));
    const closing = journal.close();
    await expect(Promise.all(pending)).resolves.toHaveLength(20);
    await closing;
    await expect(stream.append("late")).rejects.toMatchObject({ code: "CLOSED" });
    expect(() => stream.read()).toThrow(expect.objectContaining({ code: "CLOSED" }));
    await expect(journal.stream("t")).rejects.toMatchObject({ code: "CLOSED" });
  });

  it("refuses a directory that is not a journal, and a format from the future", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "notes.txt"), "mine");
    await expect(Journal.open(dir)).rejects.toMatchObject({ code: "NOT_A_JOURNAL" });
    expect(readdirSync(dir)).toEqual(["notes.txt"]);
    const future = tempDir();
    writeFileSync(join(future, "tidemark.json"), JSON.stringify({ format: 99 }));
    await expect(Journal.open(future)).rejects.toMatchObject({ code: "UNSUPPORTED_FORMAT" });
    await expect(
      Journal.open(join(tempDir(), "missing"), { readOnly: true }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("answers read-only opens with READ_ONLY on append and NOT_FOUND for missing streams", async () => {
    const dir = tempDir();
    const writer = await Journal.open(dir);
    await (await writer.stream("s")).append("a");
    await writer.runMaintenance(); // written to its segment, where another journal reads it
    const reader = await Journal.open(dir, { readOnly: true });
    const stream = await reader.stream("s");
    await expect(stream.append("b")).rejects.toMatchObject({ code: "READ_ONLY" });
    await expect(reader.stream("missing")).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect((await collect(stream.read())).map(text)).toEqual(["a"]);
    await reader.close();
    await writer.close();
  });
});
