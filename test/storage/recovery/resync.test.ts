/**
 * Finding the next intact record after damage (LevelDB's resync), on real files: garbage
 * followed by records, a bit flip inside a record, nothing valid after the damage, and the
 * bounds a hit must respect (seq, region, body size, read chunks).
 */
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import {
  RECORD_BODY_BYTES_LIMIT,
  RECORD_FLAG_COMMIT,
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
} from "../../../src/format/constants.js";
import { encodeRecord } from "../../../src/format/record.js";
import { encodeSegmentHeader } from "../../../src/format/segment-header.js";
import { writeFully } from "../../../src/storage/fs/file-ops.js";
import type { FileHandle } from "../../../src/storage/fs/file-system.js";
import { NodeFileSystem } from "../../../src/storage/fs/node-file-system.js";
import { findNextValidRecord } from "../../../src/storage/recovery/resync.js";
import { tempDir } from "../../support/tmp-dir.js";

const fs = new NodeFileSystem();
/** resync.ts reads this much at a time. */
const CHUNK_BYTES = 1024 * 1024;

function record(seq: number, payload: string): Buffer {
  const size = Buffer.byteLength(payload);
  const buf = Buffer.alloc(RECORD_HEADER_BYTES + size);
  encodeRecord(buf, 0, seq, 1_000 + seq, RECORD_FLAG_COMMIT, undefined, payload, size);
  return buf;
}

/** A segment file made of these parts; returns each part's offset. */
async function segmentOf(parts: Buffer[]): Promise<{ file: FileHandle; offsets: number[] }> {
  const all = [encodeSegmentHeader(1, 1_000, 7), ...parts];
  const offsets: number[] = [];
  let at = 0;
  for (const part of all) {
    offsets.push(at);
    at += part.byteLength;
  }
  const path = join(tempDir("resync"), "00000000000000000001.seg");
  const file = await fs.open(path, "create");
  opened.push(file);
  await writeFully(file, Buffer.concat(all), 0);
  return { file, offsets: offsets.slice(1) };
}

const opened: FileHandle[] = [];
afterEach(async () => {
  for (const file of opened.splice(0)) await file.close();
});

const find = (file: FileHandle, from: number, to: number, afterSeq: number) =>
  findNextValidRecord(file, from, to, afterSeq, RECORD_BODY_BYTES_LIMIT);

describe("findNextValidRecord", () => {
  it("finds the first intact record after garbage, whatever the garbage", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 3000 }), async (garbage) => {
        const { file, offsets } = await segmentOf([
          record(1, "one"),
          record(2, "two"),
          Buffer.from(garbage),
          record(3, "three"),
          record(4, "four"),
        ]);
        const size = await file.size();
        expect(await find(file, offsets[2]!, size, 2)).toEqual({ offset: offsets[3], seq: 3 });
        await file.close();
        opened.splice(opened.indexOf(file), 1);
      }),
      { numRuns: 40 },
    );
  });

  it("passes over a record with any one bit flipped and resumes at the next", async () => {
    const parts = [record(1, "alpha"), record(2, "bravo-12"), record(3, "charlie")];
    const { file, offsets } = await segmentOf(parts);
    const size = await file.size();
    const start = offsets[1]!;
    const bytes = parts[1]!;
    for (let bit = 0; bit < bytes.byteLength * 8; bit++) {
      const flipped = Buffer.from(bytes);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      await writeFully(file, flipped, start);
      expect(await find(file, start, size, 1), `bit ${bit}`).toEqual({
        offset: offsets[2],
        seq: 3,
      });
    }
    // Undamaged, the record itself is the hit.
    await writeFully(file, bytes, start);
    expect(await find(file, start, size, 1)).toEqual({ offset: start, seq: 2 });
  });

  it("finds nothing when no intact record follows the damage", async () => {
    const zeros = await segmentOf([record(1, "one"), Buffer.alloc(8192)]);
    expect(await find(zeros.file, zeros.offsets[1]!, await zeros.file.size(), 1)).toBeUndefined();

    const garbage = Buffer.alloc(5000);
    for (let i = 0; i < garbage.byteLength; i++) garbage[i] = (i * 131 + 7) & 0xff;
    const noise = await segmentOf([record(1, "one"), garbage]);
    expect(await find(noise.file, noise.offsets[1]!, await noise.file.size(), 1)).toBeUndefined();
  });

  it("finds nothing in a region too small to hold a record header", async () => {
    const { file, offsets } = await segmentOf([record(1, "one")]);
    expect(await find(file, offsets[0]!, offsets[0]! + RECORD_HEADER_BYTES - 1, 0)).toBeUndefined();
  });

  it("skips intact records whose seq is not above afterSeq", async () => {
    const { file, offsets } = await segmentOf([record(1, "a"), record(2, "b"), record(3, "c")]);
    const size = await file.size();
    expect(await find(file, SEGMENT_HEADER_BYTES, size, 0)).toEqual({ offset: offsets[0], seq: 1 });
    expect(await find(file, SEGMENT_HEADER_BYTES, size, 2)).toEqual({ offset: offsets[2], seq: 3 });
    expect(await find(file, SEGMENT_HEADER_BYTES, size, 3)).toBeUndefined();
  });

  it("does not take an intact record whose seq is too far ahead to belong here", async () => {
    // One seq per 28 bytes at most: a region of ~60 bytes after seq 1 cannot hold seq 1000.
    const { file, offsets } = await segmentOf([record(1, "a"), record(1000, "foreign")]);
    const size = await file.size();
    expect(await find(file, offsets[1]!, size, 1)).toBeUndefined();
    // The same record in a region large enough to reach that seq is taken.
    const far = await segmentOf([record(1, "a"), Buffer.alloc(1000 * 28), record(1000, "late")]);
    const farSize = await far.file.size();
    expect(await find(far.file, far.offsets[1]!, farSize, 1)).toEqual({
      offset: far.offsets[2],
      seq: 1000,
    });
  });

  it("does not take a record that runs past the end of the region", async () => {
    const { file, offsets } = await segmentOf([record(1, "a"), record(2, "b-record")]);
    const end = await file.size();
    expect(await find(file, offsets[1]!, end - 1, 1)).toBeUndefined();
    expect(await find(file, offsets[1]!, end, 1)).toEqual({ offset: offsets[1], seq: 2 });
  });

  it("does not take a record whose body is over maxBodyBytes", async () => {
    const { file, offsets } = await segmentOf([record(1, "x".repeat(100)), record(2, "small")]);
    const size = await file.size();
    expect(await findNextValidRecord(file, SEGMENT_HEADER_BYTES, size, 0, 50)).toEqual({
      offset: offsets[1],
      seq: 2,
    });
  });

  it("finds a record that straddles the end of a read chunk", async () => {
    // 0xAA makes a length field far over the limit: every candidate in the filler is skipped.
    for (const filler of [CHUNK_BYTES - 10, CHUNK_BYTES - RECORD_HEADER_BYTES, CHUNK_BYTES - 40]) {
      const { file, offsets } = await segmentOf([
        Buffer.alloc(filler, 0xaa),
        record(1, "after the chunk boundary"),
      ]);
      const size = await file.size();
      expect(await find(file, SEGMENT_HEADER_BYTES, size, 0), `filler ${filler}`).toEqual({
        offset: offsets[1],
        seq: 1,
      });
    }
  });
});
