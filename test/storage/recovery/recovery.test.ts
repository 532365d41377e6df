/**
 * One test per row of the recovery table (docs/format.md §9): damage is made on a real journal
 * directory, then `Journal.open` must do what the table says and report it.
 */
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RECORD_FLAG_COMMIT, RECORD_HEADER_BYTES } from "../../../src/format/constants.js";
import { encodeRecord } from "../../../src/format/record.js";
import { segmentFileName } from "../../../src/format/segment-name.js";
import { Journal, type JournalOptions, type JournalRecord } from "../../../src/index.js";
import { streamIdentity } from "../../../src/storage/stream/stream-name.js";
import { tempDir } from "../../support/tmp-dir.js";

const streamPath = (dir: string, name: string) =>
  join(dir, "streams", streamIdentity(name).dirName);
const segmentPath = (dir: string, name: string, base: number) =>
  join(streamPath(dir, name), segmentFileName(base));

function segments(dir: string, name: string): number[] {
  return readdirSync(streamPath(dir, name))
    .filter((f) => f.endsWith(".seg"))
    .map((f) => Number(f.slice(0, 20)));
}

function rawRecord(seq: number, payload: string, commit = true): Buffer {
  const bytes = Buffer.byteLength(payload);
  const buf = Buffer.alloc(RECORD_HEADER_BYTES + bytes);
  encodeRecord(buf, 0, seq, Date.now(), commit ? RECORD_FLAG_COMMIT : 0, undefined, payload, bytes);
  return buf;
}

async function collect(records: AsyncIterable<JournalRecord>): Promise<string[]> {
  const out: string[] = [];
  for await (const record of records) out.push(Buffer.from(record.payload).toString());
  return out;
}

/** A journal with stream "s" holding records "r1".."rN", closed cleanly. */
async function journalWith(count: number, options: JournalOptions = {}): Promise<string> {
  const dir = tempDir();
  const journal = await Journal.open(dir, options);
  const stream = await journal.stream("s");
  for (let i = 1; i <= count; i++) await stream.append(`r${i}`);
  await journal.close();
  return dir;
}

const names = (count: number, from = 1) => Array.from({ length: count }, (_, i) => `r${from + i}`);

describe("recovery table (docs/format.md §9)", () => {
  it("row 1: after a clean close nothing is scanned and nothing is reported", async () => {
    const dir = await journalWith(50);
    const journal = await Journal.open(dir);
    expect(journal.recovery).toEqual([]);
    expect(journal.recoveryScannedBytes).toBe(0);
    expect((await journal.stream("s")).info().lastSeq).toBe(50);
    await journal.close();
  });

  it("row 2: records written after the checkpoint are scanned and kept", async () => {
    const dir = await journalWith(3);
    appendFileSync(
      segmentPath(dir, "s", 1),
      Buffer.concat([rawRecord(4, "r4"), rawRecord(5, "r5")]),
    );
    const journal = await Journal.open(dir);
    expect(journal.recovery).toEqual([]);
    expect(journal.recoveryScannedBytes).toBe(2 * (RECORD_HEADER_BYTES + 2));
    expect(await collect((await journal.stream("s")).read({ after: 0 }))).toEqual(names(5));
    await journal.close();
  });

  it.each([
    ["row 3: a torn record header", rawRecord(4, "r4").subarray(0, 10)],
    [
      "row 4: a torn record body",
      rawRecord(4, "r4-longer-body").subarray(0, RECORD_HEADER_BYTES + 5),
    ],
    ["row 5: a zero-filled tail", Buffer.alloc(4096)],
    [
      "row 6: an incomplete batch",
      Buffer.concat([rawRecord(4, "r4", false), rawRecord(5, "r5", false)]),
    ],
  ])("%s is cut back to the last complete append and reported", async (_row, tail) => {
    const dir = await journalWith(3);
    const path = segmentPath(dir, "s", 1);
    const size = statSync(path).size;
    appendFileSync(path, tail);
    const journal = await Journal.open(dir);
    expect(journal.recovery).toEqual([
      expect.objectContaining({
        kind: "torn-tail",
        stream: "s",
        segment: segmentFileName(1),
        offset: size,
        bytes: tail.byteLength,
      }),
    ]);
    expect(statSync(path).size).toBe(size);
    const stream = await journal.stream("s");
    expect((await stream.append("r4")).seq).toBe(4);
    expect(await collect(stream.read({ after: 0 }))).toEqual(names(4));
    await journal.close();
  });

  it("row 7: damage in the tail with intact records behind it is quarantined and reported with its seqs", async () => {
    const dir = await journalWith(3);
    const path = segmentPath(dir, "s", 1);
    const size = statSync(path).size;
    const damaged = rawRecord(4, "r4");
    damaged[RECORD_HEADER_BYTES]! ^= 0x01;
    const cut = Buffer.concat([damaged, rawRecord(5, "r5"), rawRecord(6, "r6")]);
    appendFileSync(path, cut);
    const journal = await Journal.open(dir);
    expect(journal.recovery).toEqual([
      expect.objectContaining({
        kind: "corrupt",
        stream: "s",
        offset: size,
        bytes: cut.byteLength,
        firstSeq: 4,
      }),
    ]);
    const saved = journal.recovery[0]!.path!;
    expect(readFileSync(saved)).toEqual(cut);
    expect(statSync(path).size).toBe(size);
    expect(await collect((await journal.stream("s")).read({ after: 0 }))).toEqual(names(3));
    await journal.close();
  });

  it("row 8: a bit flip in a sealed segment fails the read there, and the records around it stay readable", async () => {
    const dir = await journalWith(200, { segmentBytesMax: 4096 });
    expect(segments(dir, "s").length).toBeGreaterThanOrEqual(2);
    const first = segmentPath(dir, "s", 1);
    const bytes = readFileSync(first);
    const recordBytes = RECORD_HEADER_BYTES + 3; // "r10".."r99" are 3 bytes
    const at = 32 + 9 * (RECORD_HEADER_BYTES + 2) + 5 * recordBytes + RECORD_HEADER_BYTES; // payload of r15
    bytes[at]! ^= 0x40;
    writeFileSync(first, bytes);
    const journal = await Journal.open(dir, { segmentBytesMax: 4096 });
    expect(journal.recovery).toEqual([]);
    const stream = await journal.stream("s");
    const seen: string[] = [];
    const error = await (async () => {
      try {
        for await (const record of stream.read({ after: 0 }))
          seen.push(Buffer.from(record.payload).toString());
      } catch (err) {
        return err as { code: string; context: Record<string, number | string> };
      }
      return undefined;
    })();
    expect(seen).toEqual(names(14));
    expect(error).toMatchObject({
      code: "CORRUPT",
      context: {
        stream: "s",
        segment: segmentFileName(1),
        firstSeqLost: 15,
        lastSeqLost: 15,
        resumeAfter: 15,
        bytes: recordBytes,
      },
    });
    expect(await collect(stream.read({ after: 15 }))).toEqual(names(185, 16));
    await journal.close();
  });

  it("row 9: a missing sealed segment fails reads that cross it, naming the lost seqs", async () => {
    const dir = await journalWith(400, { segmentBytesMax: 4096 });
    const bases = segments(dir, "s");
    expect(bases.length).toBeGreaterThanOrEqual(3);
    unlinkSync(segmentPath(dir, "s", bases[1]!));
    const journal = await Journal.open(dir, { segmentBytesMax: 4096 });
    const stream = await journal.stream("s");
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const record of stream.read({ after: 0 }))
          seen.push(Buffer.from(record.payload).toString());
      })(),
    ).rejects.toMatchObject({
      code: "CORRUPT",
      context: { firstSeqLost: bases[1], lastSeqLost: bases[2]! - 1, resumeAfter: bases[2]! - 1 },
    });
    expect(seen).toEqual(names(bases[1]! - 1));
    expect((await collect(stream.read({ after: bases[2]! - 1 }))).length).toBe(400 - bases[2]! + 1);
    await journal.close();
  });

  it("row 10: a last segment with a torn header and no records (crash while rotating) is removed", async () => {
    const dir = await journalWith(10);
    writeFileSync(segmentPath(dir, "s", 11), Buffer.from("TMSG-torn"));
    const journal = await Journal.open(dir);
    expect(journal.recovery).toEqual([
      expect.objectContaining({ kind: "removed-segment", segment: segmentFileName(11), bytes: 9 }),
    ]);
    expect(existsSync(segmentPath(dir, "s", 11))).toBe(false);
    const stream = await journal.stream("s");
    expect((await stream.append("r11")).seq).toBe(11);
    expect(await collect(stream.read({ after: 0 }))).toEqual(names(11));
    await journal.close();
  });

  it("row 11: a damaged header of the last segment with intact records keeps the records", async () => {
    const dir = await journalWith(10);
    const path = segmentPath(dir, "s", 1);
    const bytes = readFileSync(path);
    bytes[17]! ^= 0xff; // createdAtMs
    writeFileSync(path, bytes);
    unlinkSync(join(streamPath(dir, "s"), "checkpoint"));
    const journal = await Journal.open(dir);
    expect(journal.recovery).toEqual([
      expect.objectContaining({
        kind: "corrupt",
        segment: segmentFileName(1),
        offset: 0,
        bytes: 32,
      }),
    ]);
    const stream = await journal.stream("s");
    await stream.append("r11");
    expect(await collect(stream.read({ after: 0 }))).toEqual(names(11));
    await journal.close();
  });

  it("row 12: a damaged or mismatched checkpoint is ignored, and the active segment scanned in full", async () => {
    const dir = await journalWith(20);
    const checkpoint = join(streamPath(dir, "s"), "checkpoint");
    const bytes = readFileSync(checkpoint);
    bytes[30]! ^= 1;
    writeFileSync(checkpoint, bytes);
    let journal = await Journal.open(dir);
    expect(journal.recovery).toEqual([
      expect.objectContaining({ kind: "checkpoint-ignored", stream: "s" }),
    ]);
    expect(journal.recoveryScannedBytes).toBeGreaterThan(20 * RECORD_HEADER_BYTES);
    expect((await journal.stream("s")).info().lastSeq).toBe(20);
    await journal.close();

    // A well-formed checkpoint that does not describe the data (here: it claims more records).
    const good = readFileSync(checkpoint);
    const path = segmentPath(dir, "s", 1);
    writeFileSync(
      path,
      readFileSync(path).subarray(0, statSync(path).size - (RECORD_HEADER_BYTES + 3)),
    );
    journal = await Journal.open(dir);
    expect(journal.recovery).toEqual([expect.objectContaining({ kind: "checkpoint-ignored" })]);
    expect((await journal.stream("s")).info().lastSeq).toBe(19);
    expect(good.byteLength).toBe(56);
    await journal.close();
  });

  it("row 13: a checkpoint naming a missing segment is reported, and its seqs are never handed out again", async () => {
    const dir = await journalWith(200, { segmentBytesMax: 4096 });
    const bases = segments(dir, "s");
    const last = bases[bases.length - 1]!;
    unlinkSync(segmentPath(dir, "s", last));
    const journal = await Journal.open(dir, { segmentBytesMax: 4096 });
    expect(journal.recovery).toEqual([
      expect.objectContaining({ kind: "corrupt", firstSeq: last, lastSeq: 200 }),
    ]);
    const stream = await journal.stream("s");
    expect((await stream.append("r201")).seq).toBe(201);
    await expect(collect(stream.read({ after: last - 2 }))).rejects.toMatchObject({
      code: "CORRUPT",
      context: { firstSeqLost: last, lastSeqLost: 200, resumeAfter: 200 },
    });
    expect(await collect(stream.read({ after: 200 }))).toEqual(["r201"]);
    await journal.close();
  });

  it("row 14: missing or damaged indexes are rebuilt from their segments", async () => {
    const dir = await journalWith(3000, { segmentBytesMax: 32 * 1024, durability: "none" });
    for (const file of readdirSync(streamPath(dir, "s"))) {
      if (file.endsWith(".idx")) writeFileSync(join(streamPath(dir, "s"), file), "garbage");
    }
    const journal = await Journal.open(dir, { segmentBytesMax: 32 * 1024 });
    const stream = await journal.stream("s");
    expect(segments(dir, "s").length).toBeGreaterThan(2);
    expect(await collect(stream.read({ after: 2500, limit: 3 }))).toEqual([
      "r2501",
      "r2502",
      "r2503",
    ]);
    expect(await collect(stream.read({ after: 10, limit: 2 }))).toEqual(["r11", "r12"]);
    expect(
      readFileSync(join(streamPath(dir, "s"), `${segmentFileName(1).slice(0, 20)}.idx`))
        .subarray(0, 4)
        .toString(),
    ).toBe("TMIX");
    await journal.close();
  });

  it("row 15: a last segment that belongs to another stream is moved to quarantine, not used", async () => {
    const dir = await journalWith(5);
    const journal0 = await Journal.open(dir);
    await (await journal0.stream("other")).appendMany(["x", "y"]);
    await journal0.close();
    copyFileSync(segmentPath(dir, "other", 1), segmentPath(dir, "s", 6));
    const journal = await Journal.open(dir);
    expect(journal.recovery).toEqual([
      expect.objectContaining({ kind: "corrupt", stream: "s", segment: segmentFileName(6) }),
    ]);
    expect(existsSync(segmentPath(dir, "s", 6))).toBe(false);
    expect(readdirSync(join(streamPath(dir, "s"), "quarantine"))).toHaveLength(1);
    const stream = await journal.stream("s");
    expect((await stream.append("r6")).seq).toBe(6);
    await journal.close();
  });

  it("row 16: an unknown file is reported and left alone", async () => {
    const dir = await journalWith(2);
    writeFileSync(join(streamPath(dir, "s"), "notes.txt"), "mine");
    const journal = await Journal.open(dir);
    expect(journal.recovery).toEqual([
      expect.objectContaining({ kind: "unknown-file", path: "notes.txt" }),
    ]);
    expect(readFileSync(join(streamPath(dir, "s"), "notes.txt"), "utf8")).toBe("mine");
    await journal.close();
  });

  it("row 17: leftovers of interrupted creates, deletes and replacements are removed and reported", async () => {
    const dir = await journalWith(2);
    mkdirSync(join(dir, "streams", ".tmp-0011"));
    writeFileSync(join(dir, "streams", ".tmp-0011", "stream.json"), "{}");
    const deleted = join(dir, "streams", ".del-0022");
    renameSync(streamPath(dir, "s"), deleted);
    const journal0 = await Journal.open(dir);
    expect(journal0.list()).toEqual([]);
    await (await journal0.stream("t")).append("x");
    await journal0.close();
    writeFileSync(join(streamPath(dir, "t"), "checkpoint.tmp"), "half");
    expect(existsSync(deleted)).toBe(false);
    const journal = await Journal.open(dir);
    expect(journal.recovery).toEqual([
      expect.objectContaining({ kind: "removed-temp", stream: "t", path: "checkpoint.tmp" }),
    ]);
    expect(readdirSync(join(dir, "streams"))).toEqual([streamIdentity("t").dirName]);
    await journal.close();
  });

  it("row 18: a stream directory without a valid stream.json is reported and left in place", async () => {
    const dir = await journalWith(2);
    const journal0 = await Journal.open(dir);
    await (await journal0.stream("t")).append("x");
    await journal0.close();
    writeFileSync(join(streamPath(dir, "s"), "stream.json"), "{ not json");
    const journal = await Journal.open(dir);
    expect(journal.list()).toEqual(["t"]);
    expect(journal.recovery).toEqual([
      expect.objectContaining({ kind: "corrupt", path: streamIdentity("s").dirName }),
    ]);
    expect(existsSync(segmentPath(dir, "s", 1))).toBe(true);
    await journal.close();
  });

  it("row 20: a stream written by a newer format is refused with UNSUPPORTED_FORMAT", async () => {
    const dir = await journalWith(2);
    const path = join(streamPath(dir, "s"), "stream.json");
    writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, "utf8")), format: 99 }));
    await expect(Journal.open(dir)).rejects.toMatchObject({ code: "UNSUPPORTED_FORMAT" });
  });

  it("read-only: an incomplete tail is treated as not yet written, and nothing is changed", async () => {
    const dir = await journalWith(3);
    const path = segmentPath(dir, "s", 1);
    appendFileSync(path, Buffer.concat([rawRecord(4, "r4"), rawRecord(5, "r5", false)]));
    const size = statSync(path).size;
    const journal = await Journal.open(dir, { readOnly: true });
    expect(await collect((await journal.stream("s")).read({ after: 0 }))).toEqual(names(4));
    await journal.close();
    expect(statSync(path).size).toBe(size);
  });
});
