import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { PendingEntry } from "../../../src/outbox/store/outbox-records.js";
import { PendingEntries } from "../../../src/outbox/store/pending-entries.js";

function entry(seq: number): PendingEntry {
  return {
    seq,
    id: String(seq),
    meta: {} as PendingEntry["meta"],
    bodyBytes: 0,
    attempts: 0,
    lastError: null,
    lastErrorAt: null,
    sequence: null,
  };
}

describe("PendingEntries", () => {
  it("gives the lowest pending seq and seq order through any adds and deletes (against a Map)", () => {
    fc.assert(
      fc.property(
        // Long enough that the queue of seqs is compacted (after 4096 gone) several times.
        fc.array(fc.oneof(fc.constant("add" as const), fc.nat({ max: 12_000 })), {
          minLength: 10_000,
          maxLength: 12_000,
        }),
        (ops) => {
          const pending = new PendingEntries();
          const model = new Map<number, PendingEntry>();
          let next = 1;
          for (const op of ops) {
            if (op === "add") {
              const e = entry(next++);
              pending.add(e);
              model.set(e.seq, e);
            } else {
              // Mostly the oldest (as delivery does), sometimes any seq.
              const seq = op % 4 === 0 ? op : (model.keys().next().value ?? next);
              expect(pending.delete(seq)).toBe(model.delete(seq));
            }
            expect(pending.first()?.seq).toBe(model.keys().next().value);
            expect(pending.size).toBe(model.size);
          }
          expect([...pending.values()].map((e) => e.seq)).toEqual([...model.keys()]);
        },
      ),
      { numRuns: 10, endOnFailure: true },
    );
  });

  it("refuses an entry out of seq order or twice", () => {
    const pending = new PendingEntries();
    pending.add(entry(5));
    expect(() => pending.add(entry(5))).toThrow(/entry 5 added after entry 5/);
    expect(() => pending.add(entry(3))).toThrow(/entry 3 added after entry 5/);
  });
});
