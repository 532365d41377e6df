/**
 * Finding the end of the active segment (docs/format.md §7, §9 rows 2-7 and 12), on segment
 * files written byte by byte with the format's encoders. Journal.open does the repairs
 * (test/storage/recovery/recovery.test.ts); here scanTail alone must say where the committed
 * data ends, what its last record is, where decoding stopped and how big the file is.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Checkpoint } from "../../../src/format/checkpoint.js";
import {
  INDEX_INTERVAL_BYTES,
  RECORD_FLAG_COMMIT,
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
} from "../../../src/format/constants.js";
import { encodeIndexEntries, encodeIndexHeader } from "../../../src/format/index-entry.js";
import { encodeRecord, payloadByteLength } from "../../../src/format/record.js";
import { encodeSegmentHeader } from "../../../src/format/segment-header.js";
import { indexFileName, segmentFileName } from "../../../src/format/segment-name.js";
import { writeFully } from "../../../src/storage/fs/file-ops.js";
import type { FileHandle } from "../../../src/storage/fs/file-system.js";
import { NodeFileSystem } from "../../../src/storage/fs/node-file-system.js";
import type { RecoveryEvent } from "../../../src/storage/recovery/recovery-event.js";
import { type ScannedTail, scanTail } from "../../../src/storage/recovery/tail-scan.js";
import { tempDir } from "../../support/tmp-dir.js";

const fs = new NodeFileSystem();
const BASE = 101;
const CREATED_AT_MS = 1_767_225_600_000;
const TAG = 0x2a97516c;

interface RecordSpec {
  payload: string;
  /** Default true: every record its own append. */
  commit?: boolean;
  /** Default: the record's seq, counted from BASE. */
  seq?: number;
}

interface WrittenRecord {
  seq: number;
  timestampMs: number;
  offset: number;
  end: number;
  crc: number;
}

/** A segment: its header, then the records, seqs from BASE, a timestamp 10 ms apart. */
function segmentBytes(specs: readonly RecordSpec[]): { bytes: Buffer; records: WrittenRecord[] } {
  const parts = [encodeSegmentHeader(BASE, CREATED_AT_MS, TAG)];
  const records: WrittenRecord[] = [];
  let offset = SEGMENT_HEADER_BYTES;
  specs.forEach((spec, i) => {
    const seq = spec.seq ?? BASE + i;
    const timestampMs = CREATED_AT_MS + 10 * (i + 1);
    const size = payloadByteLength(spec.payload);
    const buf = Buffer.alloc(RECORD_HEADER_BYTES + size);
    const flags = spec.commit === false ? 0 : RECORD_FLAG_COMMIT;
    encodeRecord(buf, 0, seq, timestampMs, flags, undefined, spec.payload, size);
    records.push({
      seq,
      timestampMs,
      offset,
      end: offset + buf.byteLength,
      crc: buf.readUInt32LE(0),
    });
    parts.push(buf);
    offset += buf.byteLength;
  });
  return { bytes: Buffer.concat(parts), records };
}

const payloads = (count: number) => Array.from({ length: count }, (_, i) => ({ payload: `r${i}` }));

const opened: FileHandle[] = [];
afterEach(async () => {
  for (const file of opened.splice(0)) await file.close();
});

/** Writes the bytes as the active segment of a fresh stream directory and opens it to read. */
async function writeSegment(bytes: Buffer): Promise<{ dir: string; file: FileHandle }> {
  const dir = tempDir("tail-scan");
  const path = join(dir, segmentFileName(BASE));
  const out = await fs.open(path, "create");
  await writeFully(out, bytes, 0);
  await out.close();
  const file = await fs.open(path, "read");
  opened.push(file);
  return { dir, file };
}

async function scan(
  bytes: Buffer,
  checkpoint?: Checkpoint,
  prepare?: (dir: string) => Promise<void>,
): Promise<{ result: ScannedTail; reports: RecoveryEvent[] }> {
  const { dir, file } = await writeSegment(bytes);
  await prepare?.(dir);
  const reports: RecoveryEvent[] = [];
  const options = { fs, dir, name: "s", report: (event: RecoveryEvent) => reports.push(event) };
  const result = await scanTail(options, file, BASE, CREATED_AT_MS, checkpoint);
  return { result, reports };
}

/** The checkpoint a writer would store after `record`. */
function checkpointAt(record: WrittenRecord): Checkpoint {
  return {
    segmentBaseSeq: BASE,
    lastRecordOffset: record.offset,
    endOffset: record.end,
    lastSeq: record.seq,
    lastTimestampMs: record.timestampMs,
    lastRecordCrc: record.crc,
  };
}

const tailOf = (record: WrittenRecord) => ({
  lastSeq: record.seq,
  lastTimestampMs: record.timestampMs,
  lastRecordOffset: record.offset,
  lastRecordCrc: record.crc,
});

/** Everything a scan decides, for comparing two scans. */
const outcome = (result: ScannedTail) => ({
  end: result.end,
  tail: result.tail,
  size: result.size,
  stoppedAt: result.stoppedAt,
  entries: result.index.entries(),
});

describe("scanTail without a checkpoint", () => {
  it("ends a clean segment at its last record, and indexes its first record", async () => {
    const { bytes, records } = segmentBytes(payloads(5));
    const { result, reports } = await scan(bytes);
    const last = records.at(-1)!;
    expect(result.end).toBe(bytes.byteLength);
    expect(result.size).toBe(bytes.byteLength);
    expect(result.stoppedAt).toBe(bytes.byteLength);
    expect(result.tail).toEqual(tailOf(last));
    expect(result.scannedBytes).toBe(bytes.byteLength - SEGMENT_HEADER_BYTES);
    expect(result.index.entries()).toEqual([
      { seq: BASE, timestampMs: records[0]!.timestampMs, offset: SEGMENT_HEADER_BYTES },
    ]);
    expect(reports).toEqual([]);
  });

  it("ends a segment holding only its header right after it, at base seq - 1", async () => {
    const { bytes } = segmentBytes([]);
    const { result } = await scan(bytes);
    expect(result.end).toBe(SEGMENT_HEADER_BYTES);
    expect(result.size).toBe(SEGMENT_HEADER_BYTES);
    expect(result.tail).toEqual({
      lastSeq: BASE - 1,
      lastTimestampMs: CREATED_AT_MS,
      lastRecordOffset: 0,
      lastRecordCrc: 0,
    });
    expect(result.index.size).toBe(0);
  });

  it("finds records larger than a scan chunk", async () => {
    const { bytes, records } = segmentBytes([
      { payload: "a" },
      { payload: "b".repeat(200_000) },
      { payload: "c" },
      { payload: "d".repeat(70_000) },
    ]);
    const { result } = await scan(bytes);
    expect(result.end).toBe(bytes.byteLength);
    expect(result.tail).toEqual(tailOf(records[3]!));
    // The first record, and the first one at or past each 64 KiB after it.
    expect(result.index.entries().map((entry) => entry.seq)).toEqual([BASE, BASE + 2]);
  });

  it("stops before a torn record header (row 3), leaving the bytes past the end", async () => {
    const { bytes, records } = segmentBytes(payloads(4));
    const committed = records[2]!;
    for (const kept of [1, 14, RECORD_HEADER_BYTES - 1]) {
      const { result } = await scan(bytes.subarray(0, committed.end + kept));
      expect(result.end, `${kept} header bytes`).toBe(committed.end);
      expect(result.size).toBe(committed.end + kept);
      expect(result.stoppedAt).toBe(committed.end);
      expect(result.tail).toEqual(tailOf(committed));
    }
  });

  it("stops before a torn record body (row 4)", async () => {
    const { bytes, records } = segmentBytes([...payloads(3), { payload: "x".repeat(500) }]);
    const committed = records[2]!;
    const torn = records[3]!;
    for (const cut of [torn.offset + RECORD_HEADER_BYTES, torn.offset + 300, torn.end - 1]) {
      const { result } = await scan(bytes.subarray(0, cut));
      expect(result.end, `cut at ${cut}`).toBe(committed.end);
      expect(result.size).toBe(cut);
      expect(result.stoppedAt).toBe(committed.end);
      expect(result.tail).toEqual(tailOf(committed));
    }
  });

  it("stops at a zero-filled tail (row 5): a file extended by writes that were lost", async () => {
    const { bytes, records } = segmentBytes(payloads(3));
    const { result } = await scan(Buffer.concat([bytes, Buffer.alloc(4096)]));
    expect(result.end).toBe(bytes.byteLength);
    expect(result.size).toBe(bytes.byteLength + 4096);
    expect(result.stoppedAt).toBe(bytes.byteLength);
    expect(result.tail).toEqual(tailOf(records[2]!));
  });

  it("leaves out a batch whose COMMIT record is missing (row 6), and its index entries", async () => {
    // The first record is large, so the batch starts past an index interval and is indexed
    // while it is scanned: the entry must go with the batch.
    const { bytes, records } = segmentBytes([
      { payload: "a".repeat(INDEX_INTERVAL_BYTES + 100) },
      { payload: "b1", commit: false },
      { payload: "b2", commit: false },
    ]);
    const { result } = await scan(bytes);
    expect(result.end).toBe(records[0]!.end);
    expect(result.tail).toEqual(tailOf(records[0]!));
    expect(result.stoppedAt).toBe(bytes.byteLength); // every record decoded; none committed
    expect(result.size).toBe(bytes.byteLength);
    expect(result.index.entries().map((entry) => entry.seq)).toEqual([BASE]);
    expect(result.index.nextEntryOffset).toBe(SEGMENT_HEADER_BYTES + INDEX_INTERVAL_BYTES);
  });

  it("keeps a batch whose COMMIT record is there, all of it", async () => {
    const { bytes, records } = segmentBytes([
      { payload: "a" },
      { payload: "b1", commit: false },
      { payload: "b2", commit: false },
      { payload: "b3" },
    ]);
    const { result } = await scan(bytes);
    expect(result.end).toBe(bytes.byteLength);
    expect(result.tail).toEqual(tailOf(records[3]!));
  });

  it("stops at a damaged record, even with intact records behind it (row 7 is recovery's)", async () => {
    const { bytes, records } = segmentBytes(payloads(6));
    const damaged = Buffer.from(bytes);
    const at = records[3]!.offset + RECORD_HEADER_BYTES; // the first byte of record 4's payload
    damaged[at] = damaged[at]! ^ 0x01;
    const { result } = await scan(damaged);
    expect(result.end).toBe(records[2]!.end);
    expect(result.stoppedAt).toBe(records[3]!.offset);
    expect(result.size).toBe(bytes.byteLength);
    expect(result.tail).toEqual(tailOf(records[2]!));
  });

  it("stops at a record whose seq is not the next one", async () => {
    const { bytes, records } = segmentBytes([
      { payload: "a" },
      { payload: "b" },
      { payload: "c", seq: BASE + 5 },
    ]);
    const { result } = await scan(bytes);
    expect(result.end).toBe(records[1]!.end);
    expect(result.stoppedAt).toBe(records[2]!.offset);
  });
});

describe("scanTail from a checkpoint", () => {
  it("trusts a checkpoint that matches and decodes only what follows it (row 2)", async () => {
    const { bytes, records } = segmentBytes(payloads(6));
    const checkpoint = checkpointAt(records[3]!);
    const { result, reports } = await scan(bytes, checkpoint);
    expect(reports).toEqual([]);
    expect(result.end).toBe(bytes.byteLength);
    expect(result.tail).toEqual(tailOf(records[5]!));
    expect(result.scannedBytes).toBe(bytes.byteLength - checkpoint.endOffset);
    // Only the records after the checkpoint were offered to the index.
    expect(result.index.entries().map((entry) => entry.seq)).toEqual([records[4]!.seq]);
  });

  it("scans nothing after a clean close: the checkpoint covers the whole segment (row 1)", async () => {
    const { bytes, records } = segmentBytes(payloads(4));
    const { result, reports } = await scan(bytes, checkpointAt(records[3]!));
    expect(reports).toEqual([]);
    expect(result.end).toBe(bytes.byteLength);
    expect(result.size).toBe(bytes.byteLength);
    expect(result.scannedBytes).toBe(0);
    expect(result.tail).toEqual(tailOf(records[3]!));
  });

  it("verifies a checkpointed record larger than a scan chunk", async () => {
    const { bytes, records } = segmentBytes([{ payload: "a" }, { payload: "b".repeat(150_000) }]);
    const { result, reports } = await scan(bytes, checkpointAt(records[1]!));
    expect(reports).toEqual([]);
    expect(result.scannedBytes).toBe(0);
    expect(result.tail).toEqual(tailOf(records[1]!));
  });

  it("still cuts a torn tail after the checkpoint", async () => {
    const { bytes, records } = segmentBytes(payloads(5));
    const { result, reports } = await scan(
      bytes.subarray(0, records[4]!.offset + 10),
      checkpointAt(records[2]!),
    );
    expect(reports).toEqual([]);
    expect(result.end).toBe(records[3]!.end);
    expect(result.stoppedAt).toBe(records[3]!.end);
    expect(result.tail).toEqual(tailOf(records[3]!));
  });

  it("takes a checkpoint of an empty segment and scans from the first record", async () => {
    const { bytes, records } = segmentBytes(payloads(3));
    const empty: Checkpoint = {
      segmentBaseSeq: BASE,
      lastRecordOffset: 0,
      endOffset: SEGMENT_HEADER_BYTES,
      lastSeq: BASE - 1,
      lastTimestampMs: CREATED_AT_MS,
      lastRecordCrc: 0,
    };
    const { result, reports } = await scan(bytes, empty);
    expect(reports).toEqual([]);
    expect(result.end).toBe(bytes.byteLength);
    expect(result.tail).toEqual(tailOf(records[2]!));
    expect(result.scannedBytes).toBe(bytes.byteLength - SEGMENT_HEADER_BYTES);
  });

  it("reads the index file for the part before the checkpoint only when the index is needed", async () => {
    const { bytes, records } = segmentBytes([
      { payload: "a".repeat(INDEX_INTERVAL_BYTES) },
      { payload: "b" },
      { payload: "c" },
      { payload: "d" },
    ]);
    const checkpoint = checkpointAt(records[2]!);
    const fileEntries = [
      { seq: records[0]!.seq, timestampMs: records[0]!.timestampMs, offset: records[0]!.offset },
      { seq: records[1]!.seq, timestampMs: records[1]!.timestampMs, offset: records[1]!.offset },
      // Past the checkpoint: what the scan found is used instead.
      { seq: records[3]!.seq, timestampMs: records[3]!.timestampMs, offset: records[3]!.offset },
    ];
    const { result } = await scan(bytes, checkpoint, async (dir) => {
      const out = await fs.open(join(dir, indexFileName(BASE)), "create");
      await writeFully(
        out,
        Buffer.concat([encodeIndexHeader(BASE), encodeIndexEntries(fileEntries)]),
        0,
      );
      await out.close();
    });
    expect(result.index.entries()).toEqual([fileEntries[2]]);
    await result.index.ready();
    expect(result.index.entries()).toEqual(fileEntries);
  });

  it("does not load index entries past the checkpoint's end (left by a tail cut since)", async () => {
    const { bytes, records } = segmentBytes([
      { payload: "a".repeat(INDEX_INTERVAL_BYTES) },
      { payload: "b" },
    ]);
    const stale = { seq: BASE + 2, timestampMs: CREATED_AT_MS + 30, offset: records[1]!.end };
    const first = {
      seq: records[0]!.seq,
      timestampMs: records[0]!.timestampMs,
      offset: records[0]!.offset,
    };
    const { result } = await scan(bytes, checkpointAt(records[1]!), async (dir) => {
      const out = await fs.open(join(dir, indexFileName(BASE)), "create");
      const index = Buffer.concat([encodeIndexHeader(BASE), encodeIndexEntries([first, stale])]);
      await writeFully(out, index, 0);
      await out.close();
    });
    expect(result.index.size).toBe(0); // nothing after the checkpoint to scan
    await result.index.ready();
    expect(result.index.entries()).toEqual([first]);
  });
});

describe("scanTail with a checkpoint that does not match (row 12)", () => {
  const { bytes, records } = segmentBytes(payloads(6));
  const good = checkpointAt(records[3]!);
  // The same records, with the fourth one the first of a two-record batch.
  const midBatch = segmentBytes(
    payloads(6).map((spec, i) => (i === 3 ? { ...spec, commit: false } : spec)),
  );
  const cases: Array<[string, Checkpoint, Buffer?]> = [
    ["a different CRC", { ...good, lastRecordCrc: (good.lastRecordCrc + 1) >>> 0 }],
    ["an end that is not the record's", { ...good, endOffset: good.endOffset + 1 }],
    ["a seq that is not the record's", { ...good, lastSeq: good.lastSeq + 1 }],
    ["an offset inside a record", { ...good, lastRecordOffset: good.lastRecordOffset + 3 }],
    ["an offset inside the segment header", { ...good, lastRecordOffset: 16 }],
    ["a record that is no longer there", good, bytes.subarray(0, records[3]!.offset + 20)],
    ["a record in the middle of a batch", checkpointAt(midBatch.records[3]!), midBatch.bytes],
    ["an empty segment that has an end past the header", { ...good, lastRecordOffset: 0 }],
    [
      "an empty segment whose last seq is not base - 1",
      { ...good, lastRecordOffset: 0, endOffset: SEGMENT_HEADER_BYTES },
    ],
  ];

  for (const [what, checkpoint, data] of cases) {
    it(`ignores a checkpoint with ${what}, reports it, and scans the whole segment`, async () => {
      const file = data ?? bytes;
      const { result: full } = await scan(file);
      const { result, reports } = await scan(file, checkpoint);
      expect(outcome(result)).toEqual(outcome(full));
      expect(result.scannedBytes).toBe(file.byteLength - SEGMENT_HEADER_BYTES);
      expect(reports).toEqual([
        {
          kind: "checkpoint-ignored",
          stream: "s",
          segment: segmentFileName(BASE),
          message: expect.any(String),
        },
      ]);
    });
  }

  it("passes over, without a report, a checkpoint of another segment (one before a rotation)", async () => {
    const { result: full } = await scan(bytes);
    const { result, reports } = await scan(bytes, { ...good, segmentBaseSeq: 1 });
    expect(outcome(result)).toEqual(outcome(full));
    expect(reports).toEqual([]);
  });
});
