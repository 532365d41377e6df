import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SeqRanges } from "../../../src/outbox/store/seq-ranges.js";

describe("SeqRanges", () => {
  it("holds exactly the seqs added and not deleted, in any order (against a Set)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ add: fc.integer({ min: 1, max: 200 }) }),
            fc.record({ deleteThrough: fc.integer({ min: 0, max: 200 }) }),
          ),
          { maxLength: 300 },
        ),
        (ops) => {
          const ranges = new SeqRanges();
          const model = new Set<number>();
          for (const op of ops) {
            if ("add" in op) {
              ranges.add(op.add);
              model.add(op.add);
            } else {
              ranges.deleteThrough(op.deleteThrough);
              for (const seq of model) if (seq <= op.deleteThrough) model.delete(seq);
            }
          }
          for (let seq = 0; seq <= 201; seq++) expect(ranges.has(seq)).toBe(model.has(seq));
          // Ranges are sorted, disjoint, not adjacent, and survive a round trip.
          const json = ranges.toJSON();
          for (let i = 1; i < json.length; i++)
            expect(json[i]![0]).toBeGreaterThan(json[i - 1]![1] + 1);
          const back = SeqRanges.from(json);
          for (let seq = 0; seq <= 201; seq++) expect(back.has(seq)).toBe(model.has(seq));
        },
      ),
    );
  });

  it("keeps a million contiguous seqs as one range", () => {
    const ranges = new SeqRanges();
    for (let seq = 2; seq <= 1_000_001; seq++) ranges.add(seq);
    expect(ranges.toJSON()).toEqual([[2, 1_000_001]]);
  });
});
