/**
 * Journal.importStream (stream-import.ts): records keep their seqs and timestamps, gaps become
 * lost seqs, segments rotate at segmentBytesMax, and the stream reopens as if it had been written
 * by appends (recovery finds nothing to do; appends continue after the last seq).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RECORD_FLAG_COMMIT, RECORD_HEADER_BYTES } from "../../../src/format/constants.js";
import { encodeRecord } from "../../../src/format/record.js";
import { Journal } from "../../../src/index.js";
import { tempDir } from "../../support/tmp-dir.js";

describe("Journal.importStream", () => {
  it("reads back exactly what was imported, across rotations and gaps, and after a reopen", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.integer({ min: 1, max: 3 }),
            fc.integer({ min: 0, max: 5 }),
            fc.integer({ min: 0, max: 600 }),
          ),
          { minLength: 0, maxLength: 120 },
        ),
        fc.integer({ min: 0, max: 4 }),
        async (steps, tailLost) => {
          const dir = tempDir("import-prop");
          const journal = await Journal.open(dir, { segmentBytesMax: 4096 });
          const building = await journal.importStream("s", {
            createdAtMs: 1_000,
            meta: { k: "v" },
          });
          const expected: Array<[number, number, string]> = [];
          let seq = 0;
          let ts = 1_000;
          for (const [step, dt, size] of steps) {
            seq += step;
            ts += dt;
            const payload = `${seq}:`.padEnd(size, "z");
            expected.push([seq, ts, payload]);
            const pending = building.add({ seq, timestamp: ts, payload: Buffer.from(payload) });
            if (pending !== undefined) await pending;
          }
          const lastSeq = seq + tailLost;
          const { stream, summary } = await building.finish(lastSeq);
          const read = async (s: typeof stream) => {
            const got: Array<[number, number, string]> = [];
            for await (const r of s.read())
              got.push([r.seq, r.timestamp, Buffer.from(r.payload).toString()]);
            return got;
          };
          expect(await read(stream)).toEqual(expected);
          expect(stream.info()).toMatchObject({ lastSeq, records: expected.length });
          expect(summary.records).toBe(expected.length);
          await journal.close();
          const again = await Journal.open(dir, { segmentBytesMax: 4096 });
          expect(again.recovery).toEqual([]);
          const reopened = await again.stream("s");
          expect(await read(reopened)).toEqual(expected);
          expect(reopened.meta).toEqual({ k: "v" });
          const next = await reopened.append("after");
          expect(next.seq).toBe(lastSeq + 1);
          expect(next.timestamp).toBeGreaterThanOrEqual(ts);
          await again.close();
        },
      ),
      { numRuns: 25 },
    );
  });

  it("keeps a last record that ends no atomic append: recovery does not cut it", async () => {
    const dir = tempDir("import-uncommitted");
    const journal = await Journal.open(dir);
    const building = await journal.importStream("s", { createdAtMs: 0 });
    for (const [seq, flags] of [
      [1, RECORD_FLAG_COMMIT],
      [2, 0],
      [3, 0],
    ] as const) {
      const record = Buffer.alloc(RECORD_HEADER_BYTES + 3);
      encodeRecord(record, 0, seq, 100 + seq, flags, undefined, `r${seq}`, 2);
      await building.addEncoded(record.subarray(0, RECORD_HEADER_BYTES + 2), seq, 100 + seq);
    }
    await building.finish();
    await journal.close();
    const again = await Journal.open(dir);
    expect(again.recovery).toEqual([]);
    const seqs: number[] = [];
    for await (const r of (await again.stream("s")).read()) seqs.push(r.seq);
    expect(seqs).toEqual([1, 2, 3]);
    expect((await (await again.stream("s")).append("x")).seq).toBe(4);
    await again.close();
  });

  it("refuses seqs that do not increase, timestamps that go back, and a stream that exists", async () => {
    const journal = await Journal.open(tempDir("import-bad"));
    const building = await journal.importStream("s", { createdAtMs: 0 });
    await building.add({ seq: 5, timestamp: 10, payload: Buffer.from("a") });
    expect(() => building.add({ seq: 5, timestamp: 10, payload: Buffer.from("b") })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    expect(() => building.add({ seq: 6, timestamp: 9, payload: Buffer.from("b") })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    await building.finish();
    await expect(journal.importStream("s", { createdAtMs: 0 })).rejects.toMatchObject({
      code: "STREAM_EXISTS",
    });
    const aborted = await journal.importStream("t", { createdAtMs: 0 });
    await aborted.add({ seq: 1, timestamp: 1, payload: Buffer.from("x") });
    await aborted.abort();
    expect(journal.list()).toEqual(["s"]);
    await journal.close();
  });
});
