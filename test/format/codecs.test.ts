import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeCheckpoint, encodeCheckpoint } from "../../src/format/checkpoint.js";
import { CHECKPOINT_BYTES, SEGMENT_HEADER_BYTES } from "../../src/format/constants.js";
import {
  decodeIndexEntries,
  decodeIndexHeader,
  encodeIndexEntries,
  encodeIndexHeader,
} from "../../src/format/index-entry.js";
import { decodeSegmentHeader, encodeSegmentHeader } from "../../src/format/segment-header.js";
import { parseSegmentFileName, segmentFileName } from "../../src/format/segment-name.js";

const safe = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });

describe("segment header", () => {
  it("round-trips", () => {
    fc.assert(
      fc.property(
        safe,
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (base, created, tag) => {
          const decoded = decodeSegmentHeader(encodeSegmentHeader(base, created, tag));
          expect(decoded).toEqual({
            version: 1,
            headerBytes: SEGMENT_HEADER_BYTES,
            baseSeq: base,
            createdAtMs: created,
            streamTag: tag,
          });
        },
      ),
    );
  });

  it("detects every single bit flip and a torn header", () => {
    fc.assert(
      fc.property(fc.nat(SEGMENT_HEADER_BYTES * 8 - 1), (bit) => {
        const buf = encodeSegmentHeader(42, 1_700_000_000_000, 0xabcdef01);
        buf[bit >> 3] = buf[bit >> 3]! ^ (1 << (bit & 7));
        expect(typeof decodeSegmentHeader(buf)).toBe("string");
      }),
    );
    expect(typeof decodeSegmentHeader(encodeSegmentHeader(1, 1, 1).subarray(0, 31))).toBe("string");
    expect(typeof decodeSegmentHeader(Buffer.alloc(32))).toBe("string");
  });
});

describe("checkpoint", () => {
  const checkpoint = fc.record({
    segmentBaseSeq: safe,
    lastRecordOffset: fc.integer({ min: 0, max: 2 ** 31 }),
    endOffset: fc.integer({ min: 0, max: 2 ** 31 }),
    lastSeq: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    lastTimestampMs: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    lastRecordCrc: fc.integer({ min: 0, max: 0xffffffff }),
  });

  it("round-trips", () => {
    fc.assert(
      fc.property(checkpoint, (value) => {
        expect(decodeCheckpoint(encodeCheckpoint(value))).toEqual(value);
      }),
    );
  });

  it("rejects damage instead of returning a wrong checkpoint", () => {
    fc.assert(
      fc.property(checkpoint, fc.nat(CHECKPOINT_BYTES * 8 - 1), (value, bit) => {
        const buf = encodeCheckpoint(value);
        buf[bit >> 3] = buf[bit >> 3]! ^ (1 << (bit & 7));
        expect(decodeCheckpoint(buf)).toBeUndefined();
      }),
    );
    expect(decodeCheckpoint(Buffer.alloc(CHECKPOINT_BYTES))).toBeUndefined();
  });
});

describe("index file", () => {
  const entries = fc.array(
    fc.record({
      seq: safe,
      timestampMs: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      offset: fc.integer({ min: 0, max: 0xffffffff }),
    }),
    { maxLength: 20 },
  );

  it("round-trips header and entries", () => {
    fc.assert(
      fc.property(safe, entries, (base, list) => {
        expect(decodeIndexHeader(encodeIndexHeader(base))).toBe(base);
        expect(decodeIndexEntries(encodeIndexEntries(list))).toEqual(list);
      }),
    );
  });

  it("stops at the first damaged entry", () => {
    const list = [1, 2, 3].map((seq) => ({ seq, timestampMs: seq * 10, offset: seq * 100 }));
    const buf = encodeIndexEntries(list);
    buf[24 + 5] = buf[24 + 5]! ^ 0x10;
    expect(decodeIndexEntries(buf)).toEqual(list.slice(0, 1));
    expect(decodeIndexEntries(buf.subarray(0, 24 + 10))).toEqual(list.slice(0, 1));
  });
});

describe("segment file names", () => {
  it("sort lexically in seq order and parse back", () => {
    fc.assert(
      fc.property(safe, safe, (a, b) => {
        expect(parseSegmentFileName(segmentFileName(a))).toBe(a);
        expect(segmentFileName(a) < segmentFileName(b)).toBe(a < b);
      }),
    );
  });

  it("ignore other names", () => {
    for (const name of [
      "1.seg",
      "0000000000000000000a.seg",
      "00000000000000000000.seg",
      "00000000000000000001.idx",
      "x",
    ]) {
      expect(parseSegmentFileName(name)).toBeUndefined();
    }
  });
});
