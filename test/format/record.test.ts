import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RECORD_FLAG_COMMIT, RECORD_HEADER_BYTES } from "../../src/format/constants.js";
import {
  DECODE_CORRUPT,
  DECODE_INCOMPLETE,
  DECODE_OK,
  decodeRecord,
  encodeRecord,
  payloadByteLength,
  RecordView,
} from "../../src/format/record.js";

interface Input {
  seq: number;
  timestampMs: number;
  commit: boolean;
  attributes: Uint8Array | undefined;
  payload: Uint8Array | string;
}

const input = fc.record({
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  timestampMs: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  commit: fc.boolean(),
  attributes: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
  payload: fc.oneof(
    fc.uint8Array({ maxLength: 600 }),
    fc.string({ unit: "grapheme", maxLength: 200 }),
  ),
});

function encode(record: Input): Buffer {
  const size = payloadByteLength(record.payload);
  const buf = Buffer.alloc(RECORD_HEADER_BYTES + (record.attributes?.byteLength ?? 0) + size);
  const end = encodeRecord(
    buf,
    0,
    record.seq,
    record.timestampMs,
    record.commit ? RECORD_FLAG_COMMIT : 0,
    record.attributes,
    record.payload,
    size,
  );
  expect(end).toBe(buf.byteLength);
  return buf;
}

function payloadBytes(payload: Uint8Array | string): Buffer {
  return typeof payload === "string" ? Buffer.from(payload, "utf8") : Buffer.from(payload);
}

describe("record codec", () => {
  it("round-trips every field, byte for byte", () => {
    fc.assert(
      fc.property(input, (record) => {
        const buf = encode(record);
        const view = new RecordView();
        expect(decodeRecord(buf, 0, buf.byteLength, record.seq, view)).toBe(DECODE_OK);
        expect(view.seq).toBe(record.seq);
        expect(view.timestampMs).toBe(record.timestampMs);
        expect((view.flags & RECORD_FLAG_COMMIT) !== 0).toBe(record.commit);
        expect(buf.subarray(view.payloadStart, view.end)).toEqual(payloadBytes(record.payload));
        const attributes = buf.subarray(view.attrStart, view.payloadStart);
        expect(attributes).toEqual(Buffer.from(record.attributes ?? []));
      }),
      { numRuns: 2000 },
    );
  });

  it("decodes records packed back to back at any offset", () => {
    fc.assert(
      fc.property(fc.array(input, { minLength: 1, maxLength: 8 }), fc.nat(7), (records, pad) => {
        const parts = records.map((record, i) => encode({ ...record, seq: i + 1 }));
        const buf = Buffer.concat([Buffer.alloc(pad, 0xee), ...parts]);
        const view = new RecordView();
        let at = pad;
        for (let i = 0; i < records.length; i++) {
          expect(decodeRecord(buf, at, buf.byteLength, i + 1, view)).toBe(DECODE_OK);
          at = view.end;
        }
        expect(at).toBe(buf.byteLength);
      }),
    );
  });

  it("reports a truncated record as incomplete, never as a record", () => {
    fc.assert(
      fc.property(input, fc.nat(), (record, cut) => {
        const buf = encode(record);
        const end = cut % buf.byteLength;
        const status = decodeRecord(buf, 0, end, record.seq, new RecordView());
        expect(status === DECODE_INCOMPLETE || status === DECODE_CORRUPT).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("turns any single bit flip into corruption (or an incomplete read), never a wrong record", () => {
    fc.assert(
      fc.property(input, fc.nat(), fc.integer({ min: 0, max: 7 }), (record, at, bit) => {
        const buf = encode(record);
        const i = at % buf.byteLength;
        buf[i] = buf[i]! ^ (1 << bit);
        const status = decodeRecord(buf, 0, buf.byteLength, record.seq, new RecordView());
        expect(status).not.toBe(DECODE_OK);
      }),
      { numRuns: 5000 },
    );
  });

  it("never throws on random bytes and accepts nothing that fails its checksum", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.integer({ min: 0, max: 5 }),
        (bytes, seq) => {
          const buf = Buffer.from(bytes);
          const view = new RecordView();
          const status = decodeRecord(buf, 0, buf.byteLength, seq, view);
          expect([DECODE_OK, DECODE_INCOMPLETE, DECODE_CORRUPT]).toContain(status);
          if (status === DECODE_OK) {
            // Only possible if the bytes happen to be a valid record: re-encoding gives them back.
            const again = Buffer.alloc(view.end);
            encodeRecord(
              again,
              0,
              view.seq,
              view.timestampMs,
              view.flags,
              buf.subarray(view.attrStart, view.payloadStart),
              buf.subarray(view.payloadStart, view.end),
              view.end - view.payloadStart,
            );
            expect(again).toEqual(buf.subarray(0, view.end));
          }
        },
      ),
      { numRuns: 5000 },
    );
  });

  it("rejects a zero-filled region", () => {
    const zeros = Buffer.alloc(4096);
    expect(decodeRecord(zeros, 0, zeros.byteLength, 1, new RecordView())).toBe(DECODE_CORRUPT);
    expect(decodeRecord(zeros, 0, zeros.byteLength, 0, new RecordView())).toBe(DECODE_CORRUPT);
  });

  it("rejects a valid record carrying another seq than expected", () => {
    const buf = encode({
      seq: 7,
      timestampMs: 1,
      commit: true,
      attributes: undefined,
      payload: "x",
    });
    const view = new RecordView();
    expect(decodeRecord(buf, 0, buf.byteLength, 8, view)).toBe(DECODE_CORRUPT);
    expect(view.reason).toMatch(/seq 7 where 8/);
  });

  it("bounds the length field instead of trusting it", () => {
    const buf = encode({
      seq: 1,
      timestampMs: 1,
      commit: true,
      attributes: undefined,
      payload: "x".repeat(100),
    });
    const view = new RecordView();
    expect(decodeRecord(buf, 0, buf.byteLength, 1, view, 50)).toBe(DECODE_CORRUPT);
    expect(view.reason).toMatch(/exceeds the limit/);
  });
});
