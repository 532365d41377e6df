/**
 * The in-memory sparse index of a segment (docs/format.md §6): an entry for the first record and
 * for the first record at or past each further INDEX_INTERVAL_BYTES, and lookups that return the
 * entry at or before a seq or a time. Compared with a plain sorted array searched linearly.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { INDEX_INTERVAL_BYTES, SEGMENT_HEADER_BYTES } from "../../../src/format/constants.js";
import type { IndexEntry } from "../../../src/format/index-entry.js";
import { SparseIndex } from "../../../src/storage/index/sparse-index.js";

const INTERVAL = INDEX_INTERVAL_BYTES;
const FIRST = SEGMENT_HEADER_BYTES;

/** The entries the format asks for, for records written in this order from the segment start. */
function expectedEntries(records: readonly IndexEntry[]): IndexEntry[] {
  const entries: IndexEntry[] = [];
  let next = FIRST;
  for (const record of records) {
    if (record.offset < next) continue;
    entries.push(record);
    next = record.offset + INTERVAL;
  }
  return entries;
}

const lastWhere = (entries: readonly IndexEntry[], ok: (entry: IndexEntry) => boolean) =>
  entries.filter(ok).at(-1);

/** Records of a segment: contiguous seqs, timestamps that never decrease, sizes from tiny to
 * past an interval. */
type Step = { kind: "record"; bytes: number; dtMs: number } | { kind: "truncate"; pick: number };
const steps = fc.array(
  fc.oneof(
    {
      arbitrary: fc.record({
        kind: fc.constant("record" as const),
        bytes: fc.oneof(
          fc.integer({ min: 28, max: 2000 }),
          fc.integer({ min: 28, max: 3 * INTERVAL }),
        ),
        dtMs: fc.integer({ min: 0, max: 3 }),
      }),
      weight: 8,
    },
    { arbitrary: fc.record({ kind: fc.constant("truncate" as const), pick: fc.nat() }), weight: 1 },
  ),
  { maxLength: 120, size: "max" },
);

describe("SparseIndex", () => {
  it("indexes the first record offered, wherever it starts", () => {
    const fromStart = new SparseIndex();
    expect(fromStart.offer(1, 100, FIRST)).toEqual({ seq: 1, timestampMs: 100, offset: FIRST });
    expect(fromStart.first()).toEqual({ seq: 1, timestampMs: 100, offset: FIRST });

    // After a checkpoint, recovery offers the records it scans: the first of them gets an entry.
    const fromCheckpoint = new SparseIndex();
    expect(fromCheckpoint.offer(40, 100, 5000)).toEqual({
      seq: 40,
      timestampMs: 100,
      offset: 5000,
    });
    expect(new SparseIndex().first()).toBeUndefined();
  });

  it("adds an entry only for a record at or past one interval after the last entry", () => {
    const index = new SparseIndex();
    index.offer(1, 0, FIRST);
    expect(index.nextEntryOffset).toBe(FIRST + INTERVAL);
    expect(index.offer(2, 0, FIRST + 100)).toBeUndefined();
    expect(index.offer(3, 0, FIRST + INTERVAL - 1)).toBeUndefined();
    expect(index.offer(4, 0, FIRST + INTERVAL)).toEqual({
      seq: 4,
      timestampMs: 0,
      offset: FIRST + INTERVAL,
    });
    expect(index.offer(5, 0, FIRST + INTERVAL + 1)).toBeUndefined();
    expect(index.size).toBe(2);
  });

  it("finds the entry at or before a seq, before a time, and after an offset", () => {
    const index = new SparseIndex();
    index.offer(10, 1000, FIRST);
    index.offer(20, 2000, FIRST + INTERVAL);
    index.offer(30, 2000, FIRST + 2 * INTERVAL);
    index.offer(40, 3000, FIRST + 3 * INTERVAL);

    expect(index.floorBySeq(9)).toBeUndefined();
    expect(index.floorBySeq(10)?.seq).toBe(10);
    expect(index.floorBySeq(29)?.seq).toBe(20);
    expect(index.floorBySeq(30)?.seq).toBe(30);
    expect(index.floorBySeq(1_000_000)?.seq).toBe(40);

    // The last entry strictly before the time: records from that time start after it.
    expect(index.lastBeforeTime(1000)).toBeUndefined();
    expect(index.lastBeforeTime(1001)?.seq).toBe(10);
    expect(index.lastBeforeTime(2000)?.seq).toBe(10);
    expect(index.lastBeforeTime(2001)?.seq).toBe(30);
    expect(index.lastBeforeTime(99_999)?.seq).toBe(40);

    expect(index.firstAfterOffset(0)?.seq).toBe(10);
    expect(index.firstAfterOffset(FIRST)?.seq).toBe(20);
    expect(index.firstAfterOffset(FIRST + INTERVAL - 1)?.seq).toBe(20);
    expect(index.firstAfterOffset(FIRST + 3 * INTERVAL)).toBeUndefined();
  });

  it("drops the entries at or past a truncation, and indexes again from the last one kept", () => {
    const index = new SparseIndex();
    index.offer(1, 0, FIRST);
    index.offer(2, 0, FIRST + INTERVAL);
    index.offer(3, 0, FIRST + 2 * INTERVAL);
    index.truncate(FIRST + INTERVAL);
    expect(index.entries().map((entry) => entry.seq)).toEqual([1]);
    expect(index.nextEntryOffset).toBe(FIRST + INTERVAL);
    expect(index.offer(2, 5, FIRST + INTERVAL)?.seq).toBe(2);

    index.truncate(FIRST);
    expect(index.size).toBe(0);
    expect(index.nextEntryOffset).toBe(FIRST);
    expect(index.offer(1, 0, FIRST)?.seq).toBe(1);
  });

  it("loads entries in order, skipping any that would break the order of seq, offset or time", () => {
    const index = new SparseIndex();
    index.load([
      { seq: 1, timestampMs: 10, offset: FIRST },
      { seq: 5, timestampMs: 20, offset: 70_000 },
      { seq: 5, timestampMs: 20, offset: 140_000 }, // same seq
      { seq: 3, timestampMs: 30, offset: 150_000 }, // seq goes back
      { seq: 6, timestampMs: 30, offset: 60_000 }, // offset goes back
      { seq: 7, timestampMs: 15, offset: 160_000 }, // time goes back
      { seq: 8, timestampMs: 20, offset: 200_000 }, // time equal: fine
    ]);
    expect(index.entries().map((entry) => entry.seq)).toEqual([1, 5, 8]);
  });

  it("agrees with a sorted array, over random segments written with truncations", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e9 }), steps, (baseSeq, plan: Step[]) => {
        const index = new SparseIndex();
        const records: IndexEntry[] = [];
        let timestampMs = 1_000;
        for (const step of plan) {
          if (step.kind === "truncate") {
            // Cut at a record's start, as recovery does; writing resumes there with its seq.
            if (records.length === 0) continue;
            const cut = records[step.pick % records.length]!;
            index.truncate(cut.offset);
            records.splice(records.indexOf(cut));
            continue;
          }
          const last = records.at(-1);
          const offset = last === undefined ? FIRST : last.offset + step.bytes;
          const seq = last === undefined ? baseSeq : last.seq + 1;
          timestampMs += step.dtMs;
          const record = { seq, timestampMs, offset };
          records.push(record);
          const offered = index.offer(seq, timestampMs, offset);
          const want = expectedEntries(records).at(-1) === record ? record : undefined;
          expect(offered).toEqual(want);
        }

        const entries = expectedEntries(records);
        expect(index.entries()).toEqual(entries);
        expect(index.size).toBe(entries.length);
        expect(index.first()).toEqual(entries[0]);
        const probes = records.flatMap((r) => [r.seq - 1, r.seq, r.seq + 1]);
        for (const seq of [baseSeq - 1, ...probes])
          expect(index.floorBySeq(seq)).toEqual(lastWhere(entries, (e) => e.seq <= seq));
        const times = records.flatMap((r) => [r.timestampMs, r.timestampMs + 1]);
        for (const t of [0, ...times])
          expect(index.lastBeforeTime(t)).toEqual(lastWhere(entries, (e) => e.timestampMs < t));
        const offsets = records.flatMap((r) => [r.offset - 1, r.offset]);
        for (const offset of [0, ...offsets])
          expect(index.firstAfterOffset(offset)).toEqual(entries.find((e) => e.offset > offset));
      }),
    );
  });
});

describe("SparseIndex: deferred loads", () => {
  /** An index holding what a scan from a checkpoint found: entries from seq 100 on. */
  function scannedFromCheckpoint(): SparseIndex {
    const index = new SparseIndex();
    index.offer(100, 5000, 300_000);
    index.offer(150, 6000, 300_000 + INTERVAL);
    return index;
  }

  it("is ready at once when nothing is deferred", async () => {
    const index = scannedFromCheckpoint();
    await index.ready();
    expect(index.size).toBe(2);
  });

  it("puts the deferred entries in front once ready, reading them once", async () => {
    const index = scannedFromCheckpoint();
    let loads = 0;
    index.deferLoad(async () => {
      loads++;
      return [
        { seq: 1, timestampMs: 1000, offset: FIRST },
        { seq: 50, timestampMs: 3000, offset: 150_000 },
      ];
    });
    // Not read until someone needs it.
    expect(loads).toBe(0);
    expect(index.floorBySeq(60)).toBeUndefined();
    await Promise.all([index.ready(), index.ready()]);
    await index.ready();
    expect(loads).toBe(1);
    expect(index.entries().map((entry) => entry.seq)).toEqual([1, 50, 100, 150]);
    expect(index.floorBySeq(60)?.seq).toBe(50);
    expect(index.lastBeforeTime(3001)?.seq).toBe(50);
  });

  it("drops deferred entries that do not come before the entries held", async () => {
    const index = scannedFromCheckpoint();
    index.deferLoad(async () => [
      { seq: 1, timestampMs: 1000, offset: FIRST },
      { seq: 120, timestampMs: 3000, offset: 200_000 }, // a seq past the first held
      { seq: 90, timestampMs: 3000, offset: 300_000 }, // at the first held offset
      { seq: 95, timestampMs: 3000, offset: 400_000 }, // past it
    ]);
    await index.ready();
    expect(index.entries().map((entry) => entry.seq)).toEqual([1, 100, 150]);
  });

  it("keeps the index as it was when the deferred load fails (it is only a hint)", async () => {
    const index = scannedFromCheckpoint();
    const before = index.entries();
    index.deferLoad(() => Promise.reject(new Error("EIO")));
    await expect(index.ready()).resolves.toBeUndefined();
    expect(index.entries()).toEqual(before);
  });

  it("takes all the deferred entries into an index that holds none", async () => {
    const index = new SparseIndex();
    index.deferLoad(async () => [
      { seq: 1, timestampMs: 1000, offset: FIRST },
      { seq: 9, timestampMs: 1000, offset: FIRST + INTERVAL },
    ]);
    await index.ready();
    expect(index.entries().map((entry) => entry.seq)).toEqual([1, 9]);
  });
});
