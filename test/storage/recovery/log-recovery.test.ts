/**
 * The commit log's rows of the recovery table (docs/format.md §9 rows 26-33), one test each, on
 * real files. A crash is a copy of the journal directory taken while the journal is open (what a
 * SIGKILL leaves: the files as the page cache holds them, staged segment bytes not written),
 * then changed the way a power loss or damage would change it.
 */
import {
  cpSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeCheckpoint } from "../../../src/format/checkpoint.js";
import {
  LOG_HEADER_BYTES,
  LOG_RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
} from "../../../src/format/constants.js";
import { Journal, type JournalOptions, type RecoveryEvent } from "../../../src/index.js";
import { streamIdentity } from "../../../src/storage/stream/stream-name.js";
import { tempDir } from "../../support/tmp-dir.js";

/**
 * Each open is as if after a reboot (a boot id of its own): the copy of a journal taken while it
 * is open holds this process's writer lock, which a reboot makes a dead holder's (§8).
 */
let boots = 0;
const options = (extra: JournalOptions = {}): JournalOptions => ({
  bootId: `log-recovery-boot-${++boots}`,
  ...extra,
});

function crashCopy(dir: string): string {
  const copy = join(tempDir("tidemark-crash"), "j");
  cpSync(dir, copy, { recursive: true });
  return copy;
}

const logFiles = (dir: string) =>
  readdirSync(join(dir, "log"))
    .sort()
    .map((f) => join(dir, "log", f));
const segmentOf = (dir: string, name: string) =>
  join(dir, "streams", streamIdentity(name).dirName, "00000000000000000001.seg");

async function texts(journal: Journal, name: string): Promise<string[]> {
  const out: string[] = [];
  for await (const record of (await journal.stream(name)).read({ after: 0 })) {
    out.push(Buffer.from(record.payload).toString());
  }
  return out;
}

const kinds = (events: RecoveryEvent[]) => events.map((event) => event.kind);
const numbered = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);

describe("recovery: the commit log", () => {
  it("row 27: records the segments lost are written again from the log", async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir, options());
    const stream = await journal.stream("s");
    for (const text of numbered("r", 20)) await stream.append(text);
    const copy = crashCopy(dir);
    await journal.close();
    truncateSync(segmentOf(copy, "s"), SEGMENT_HEADER_BYTES); // the power loss took them
    expect(statSync(segmentOf(copy, "s")).size).toBe(SEGMENT_HEADER_BYTES);
    const reopened = await Journal.open(copy, options());
    expect(kinds(reopened.recovery)).toContain("redone");
    expect(await texts(reopened, "s")).toEqual(numbered("r", 20));
    expect((await (await reopened.stream("s")).append("next")).seq).toBe(21);
    await reopened.close();
    // Closed cleanly: the segments hold everything and the log is empty.
    expect(logFiles(copy).map((f) => statSync(f).size)).toEqual([]);
  });

  it("row 26: a torn log tail is ignored and reported; nothing acknowledged is lost", async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir, options());
    const stream = await journal.stream("s");
    for (const text of numbered("r", 5)) await stream.append(text);
    const copy = crashCopy(dir);
    await journal.close();
    const [active] = logFiles(copy);
    writeFileSync(
      active!,
      Buffer.concat([readFileSync(active!), Buffer.from("a half-written group")]),
    );
    const reopened = await Journal.open(copy, options());
    const torn = reopened.recovery.find((event) => event.kind === "torn-tail");
    expect(torn?.path).toMatch(/^log\//);
    expect(await texts(reopened, "s")).toEqual(numbered("r", 5));
    await reopened.close();
  });

  it("row 28: complete records a segment holds beyond a lost log tail are kept", async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir, options());
    const stream = await journal.stream("s");
    for (const text of numbered("r", 8)) await stream.append(text);
    await journal.runMaintenance(); // staged bytes written to the segment
    const copy = crashCopy(dir);
    await journal.close();
    for (const file of logFiles(copy)) truncateSync(file, LOG_HEADER_BYTES); // the log lost them
    const reopened = await Journal.open(copy, options());
    expect(kinds(reopened.recovery)).not.toContain("redone");
    expect(await texts(reopened, "s")).toEqual(numbered("r", 8));
    await reopened.close();
  });

  it("row 29: damage past the last logged append is a torn tail, kept aside, not corruption", async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir, options());
    const stream = await journal.stream("s");
    for (const text of numbered("r", 6)) await stream.append(text);
    await journal.runMaintenance();
    const copy = crashCopy(dir);
    await journal.close();
    // The log lost its last two records (never acknowledged, as far as the disk knows), and the
    // segment kept the last one but not the one before: the write-back reordered them.
    const [active] = logFiles(copy);
    const log = readFileSync(active!);
    const ends: number[] = [];
    for (let at = LOG_HEADER_BYTES; at < log.byteLength; ) {
      at += LOG_RECORD_HEADER_BYTES + log.readUInt32LE(at + 4);
      ends.push(at);
    }
    truncateSync(active!, ends[ends.length - 3]!);
    const segment = readFileSync(segmentOf(copy, "s"));
    const fifth = segment.indexOf("r5");
    segment.fill(0, fifth - 28, fifth + 2);
    writeFileSync(segmentOf(copy, "s"), segment);
    const reopened = await Journal.open(copy, options());
    expect(kinds(reopened.recovery)).toEqual(["torn-tail"]);
    expect(reopened.recovery[0]!.path).toMatch(/quarantine/);
    expect(await texts(reopened, "s")).toEqual(numbered("r", 4));
    await reopened.close();
  });

  it("row 29: with none of the stream's records left in the log, damage past its checkpoint is a torn tail", async () => {
    // The stream's early appends left the log at a §14.4 checkpoint (its segment synced, then
    // its §7 checkpoint written); its late appends reached the segment, but their log records
    // were lost with the log's tail: they were never acknowledged, and a power loss kept a
    // later one of them but not an earlier one.
    const dir = tempDir();
    const journal = await Journal.open(dir, options({ logFileBytesMax: 64 * 1024 }));
    const stream = await journal.stream("s");
    for (const text of numbered("early", 10)) await stream.append(text);
    const filler = await journal.stream("filler");
    const firstLog = logFiles(dir)[0]!;
    for (let i = 0; i < 200 && logFiles(dir).includes(firstLog); i++) {
      await filler.append("f".repeat(1000));
      await journal.runMaintenance();
    }
    expect(logFiles(dir)).not.toContain(firstLog); // checkpointed: the early records left the log
    const segment = segmentOf(dir, "s");
    const checkpointEnd = () =>
      decodeCheckpoint(
        readFileSync(join(dir, "streams", streamIdentity("s").dirName, "checkpoint")),
      )?.endOffset;
    for (let i = 0; i < 1000 && checkpointEnd() !== statSync(segment).size; i++) {
      await journal.runMaintenance(); // the checkpoint follows the segment's sync
    }
    expect(checkpointEnd()).toBe(statSync(segment).size);
    for (const text of numbered("late", 3)) await stream.append(text);
    const copy = crashCopy(dir);
    await journal.close();
    for (const file of logFiles(copy)) truncateSync(file, LOG_HEADER_BYTES);
    const bytes = readFileSync(segmentOf(copy, "s"));
    const late1 = bytes.indexOf("late1");
    bytes.fill(0, late1 - 28, late1 + 5);
    writeFileSync(segmentOf(copy, "s"), bytes);
    const reopened = await Journal.open(copy, options());
    expect(kinds(reopened.recovery)).toEqual(["torn-tail"]);
    expect(await texts(reopened, "s")).toEqual(numbered("early", 10));
    await reopened.close();
  });

  it("row 30: log records of a stream deleted and created again are not redone into the new one", async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir, options());
    const old = await journal.stream("s");
    for (const text of numbered("old", 5)) await old.append(text);
    await journal.deleteStream("s");
    const fresh = await journal.stream("s");
    await fresh.append("new1");
    const copy = crashCopy(dir);
    await journal.close();
    const reopened = await Journal.open(copy, options());
    expect(await texts(reopened, "s")).toEqual(["new1"]);
    expect(kinds(reopened.recovery)).not.toContain("corrupt");
    await reopened.close();
  });

  it("row 31: log records of segments released since are skipped", async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir, options({ segmentBytesMax: 4096 }));
    const ring = await journal.stream("ring", { limits: { recordsMax: 50 } });
    for (const text of numbered("r", 400)) await ring.append(`${text}-${"x".repeat(60)}`);
    await journal.runMaintenance();
    const { firstSeq } = ring.info();
    expect(firstSeq).toBeGreaterThan(100);
    const copy = crashCopy(dir);
    await journal.close();
    const reopened = await Journal.open(copy, options({ segmentBytesMax: 4096 }));
    expect(kinds(reopened.recovery)).not.toContain("corrupt");
    const info = (await reopened.stream("ring")).info();
    expect(info).toMatchObject({ firstSeq, lastSeq: 400 });
    await reopened.close();
  });

  it("row 32: a damaged log record is skipped and reported, the records after it redone", async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir, options());
    const a = await journal.stream("a");
    const b = await journal.stream("b");
    for (const text of numbered("a", 3)) await a.append(text);
    for (const text of numbered("b", 3)) await b.append(text);
    const copy = crashCopy(dir);
    await journal.close();
    // The power loss took everything the segments had: it is all in the log.
    truncateSync(segmentOf(copy, "a"), SEGMENT_HEADER_BYTES);
    truncateSync(segmentOf(copy, "b"), SEGMENT_HEADER_BYTES);
    const [active] = logFiles(copy);
    const log = readFileSync(active!);
    log[LOG_HEADER_BYTES + 10] = (log[LOG_HEADER_BYTES + 10]! + 1) & 0xff; // the first record
    writeFileSync(active!, log);
    const reopened = await Journal.open(copy, options());
    const damage = reopened.recovery.find((event) => event.kind === "corrupt");
    expect(damage?.path).toMatch(/^log\//);
    expect(await texts(reopened, "b")).toEqual(numbered("b", 3));
    // a1 was in the damaged record: it is lost, and a2, a3 after it cannot be redone either
    // (they would follow a gap), which recovery reports as damage of its own.
    expect((await texts(reopened, "a")).length).toBeLessThan(3);
    await reopened.close();
  });

  it("row 33: without its log files the journal opens from the segments alone", async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir, options());
    const stream = await journal.stream("s");
    for (const text of numbered("r", 4)) await stream.append(text);
    await journal.runMaintenance(); // in the segment, not synced
    await stream.append("only-in-the-log");
    const copy = crashCopy(dir);
    await journal.close();
    rmSync(join(copy, "log"), { recursive: true });
    const reopened = await Journal.open(copy, options());
    expect(await texts(reopened, "s")).toEqual(numbered("r", 4));
    await reopened.close();
    expect(readdirSync(copy)).toContain("log"); // made again
  });
});
