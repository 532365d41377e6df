/** Lost seq ranges (lost-ranges.ts) against a plain Set of seqs, with fast-check. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  LOST_RANGES_MAX,
  type LostRange,
  lostCount,
  lostRangeAt,
  mergeLostRanges,
  nextLostSeq,
  parseLostRanges,
} from "../../../src/storage/stream/lost-ranges.js";

const rangeArb = fc
  .tuple(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: 10 }))
  .map(([a, n]) => [a, a + n] as LostRange);

function asSet(ranges: readonly LostRange[]): Set<number> {
  const set = new Set<number>();
  for (const [a, b] of ranges) for (let s = a; s <= b; s++) set.add(s);
  return set;
}

describe("lost ranges", () => {
  it("merge, look up and count like a set of seqs", () => {
    fc.assert(
      fc.property(
        fc.array(rangeArb, { maxLength: 20 }),
        fc.integer({ min: 1, max: 220 }),
        fc.integer({ min: 0, max: 50 }),
        (added, seq, span) => {
          const merged = mergeLostRanges([], added);
          const model = asSet(added);
          expect(asSet(merged)).toEqual(model);
          // Sorted, disjoint, not adjacent: what stream.json may hold.
          expect(parseLostRanges(merged, "test")).toEqual(merged);
          expect(lostRangeAt(merged, seq) !== undefined).toBe(model.has(seq));
          let next = Number.POSITIVE_INFINITY;
          for (let s = seq; s <= 220; s++)
            if (model.has(s)) {
              next = s;
              break;
            }
          expect(nextLostSeq(merged, seq)).toBe(next);
          let count = 0;
          for (let s = seq; s <= seq + span; s++) if (model.has(s)) count++;
          expect(lostCount(merged, seq, seq + span)).toBe(count);
        },
      ),
    );
  });

  it("refuses malformed or too many ranges with a typed error", () => {
    for (const bad of [
      [[3, 2]],
      [[0, 1]],
      [
        [1, 2],
        [3, 4],
      ],
      [
        [5, 6],
        [1, 2],
      ],
      [["1", 2]],
      "x",
    ]) {
      expect(() => parseLostRanges(bad, "stream.json")).toThrow(
        expect.objectContaining({ code: "CORRUPT" }),
      );
    }
    const many = Array.from(
      { length: LOST_RANGES_MAX + 1 },
      (_, i) => [i * 3 + 1, i * 3 + 1] as LostRange,
    );
    expect(() => mergeLostRanges([], many)).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
});
