/**
 * Which outbox entry goes next. The scheduler keeps one line per key: only a line's head is
 * handed out, one per key at a time, and keys take turns in the order they became ready. The
 * dispatcher gives each entry without a key a key of its own (so those go in parallel) and
 * bounds how many it takes at once; these tests drive the scheduler the way it does.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeyScheduler } from "../../../src/outbox/delivery/key-scheduler.js";
import type { PendingEntry } from "../../../src/outbox/store/outbox-store.js";

let nextSeq = 1;
function entry(key: string | null): PendingEntry {
  const seq = nextSeq++;
  return {
    seq,
    id: String(seq),
    meta: {
      id: null,
      gen: 0,
      key,
      method: "POST",
      target: "/hook",
      headers: {},
      precondition: null,
      enqueuedAt: 0,
      retryOf: null,
    },
    bodyBytes: 0,
    attempts: 0,
    lastError: null,
    lastErrorAt: null,
    sequence: null,
  };
}

/** Takes everything ready now, as the dispatcher does with room for `limit` attempts. */
function takeAll(scheduler: KeyScheduler, limit = Number.POSITIVE_INFINITY) {
  const taken: Array<{ key: string; entry: PendingEntry }> = [];
  while (taken.length < limit) {
    const next = scheduler.take();
    if (next === undefined) break;
    taken.push(next);
  }
  return taken;
}

describe("KeyScheduler", () => {
  it("hands out the entries of one key one at a time, in the order they were added", () => {
    const scheduler = new KeyScheduler();
    const line = [entry("k"), entry("k"), entry("k")];
    for (const e of line) scheduler.add("k", e);
    const delivered: PendingEntry[] = [];
    for (;;) {
      const next = scheduler.take();
      if (next === undefined) break;
      // While the head is in flight nothing else of its key is handed out.
      expect(scheduler.take()).toBeUndefined();
      expect(scheduler.hasReady).toBe(false);
      delivered.push(next.entry);
      scheduler.settled(next.key);
    }
    expect(delivered).toEqual(line);
    expect(scheduler.keys).toBe(0);
  });

  it("hands out the heads of different keys at once, in the order the keys became ready", () => {
    const scheduler = new KeyScheduler();
    const a1 = entry("a");
    const b1 = entry("b");
    const a2 = entry("a");
    const c1 = entry("c");
    scheduler.add("a", a1);
    scheduler.add("b", b1);
    scheduler.add("a", a2);
    scheduler.add("c", c1);
    expect(scheduler.keys).toBe(3);
    expect(takeAll(scheduler)).toEqual([
      { key: "a", entry: a1 },
      { key: "b", entry: b1 },
      { key: "c", entry: c1 },
    ]);
    scheduler.settled("b");
    scheduler.settled("a");
    expect(takeAll(scheduler)).toEqual([{ key: "a", entry: a2 }]);
  });

  it("lets entries without a key (each on a key of its own) all go in parallel", () => {
    const scheduler = new KeyScheduler();
    const keyless = Array.from({ length: 5 }, () => entry(null));
    for (const e of keyless) scheduler.add(`\u0000${e.id}`, e);
    expect(takeAll(scheduler).map((t) => t.entry)).toEqual(keyless);
  });

  it("keeps the untaken ready keys for later when the caller has room for fewer", () => {
    const scheduler = new KeyScheduler();
    const entries = ["a", "b", "c", "d"].map((key) => {
      const e = entry(key);
      scheduler.add(key, e);
      return e;
    });
    expect(takeAll(scheduler, 2).map((t) => t.entry)).toEqual(entries.slice(0, 2));
    expect(scheduler.hasReady).toBe(true);
    expect(takeAll(scheduler, 2).map((t) => t.entry)).toEqual(entries.slice(2));
    expect(scheduler.hasReady).toBe(false);
  });

  it("holds a key whose head failed until its retry time, and the rest of its line behind it", () => {
    const scheduler = new KeyScheduler();
    const k1 = entry("k");
    const k2 = entry("k");
    const other = entry("o");
    scheduler.add("k", k1);
    scheduler.add("k", k2);
    expect(scheduler.take()).toEqual({ key: "k", entry: k1 });
    scheduler.later("k", 1000);
    scheduler.add("o", other);

    expect(scheduler.due(999)).toBe(1000);
    expect(takeAll(scheduler)).toEqual([{ key: "o", entry: other }]);
    expect(scheduler.due(1000)).toBeUndefined();
    // The same head again, not the one behind it.
    expect(takeAll(scheduler)).toEqual([{ key: "k", entry: k1 }]);
    scheduler.settled("k");
    expect(takeAll(scheduler)).toEqual([{ key: "k", entry: k2 }]);
  });

  it("releases retries in order of their time and says when the next one is due", () => {
    const scheduler = new KeyScheduler();
    const byKey = new Map<string, PendingEntry>();
    for (const key of ["a", "b", "c", "d"]) {
      const e = entry(key);
      byKey.set(key, e);
      scheduler.add(key, e);
    }
    takeAll(scheduler);
    scheduler.later("a", 300);
    scheduler.later("b", 100);
    scheduler.later("c", 400);
    scheduler.later("d", 200);
    expect(scheduler.due(50)).toBe(100);
    expect(scheduler.hasReady).toBe(false);
    expect(scheduler.due(250)).toBe(300);
    expect(takeAll(scheduler).map((t) => t.key)).toEqual(["b", "d"]);
    expect(scheduler.due(10_000)).toBeUndefined();
    expect(takeAll(scheduler).map((t) => t.key)).toEqual(["a", "c"]);
  });

  it("puts a key back at once with again (an attempt cut short)", () => {
    const scheduler = new KeyScheduler();
    const e = entry("k");
    scheduler.add("k", e);
    expect(scheduler.take()).toEqual({ key: "k", entry: e });
    scheduler.again("k");
    expect(scheduler.take()).toEqual({ key: "k", entry: e });
    // again for a key that is gone is a no-op.
    scheduler.settled("k");
    scheduler.again("k");
    expect(scheduler.take()).toBeUndefined();
    expect(scheduler.keys).toBe(0);
  });

  it("keeps an entry added to a key in flight behind it", () => {
    const scheduler = new KeyScheduler();
    const first = entry("k");
    const second = entry("k");
    scheduler.add("k", first);
    expect(scheduler.take()?.entry).toBe(first);
    scheduler.add("k", second);
    expect(scheduler.take()).toBeUndefined();
    scheduler.settled("k");
    expect(scheduler.take()?.entry).toBe(second);
  });

  it("keeps turns in order across the ready queue's compaction (tens of thousands of keys)", () => {
    const scheduler = new KeyScheduler();
    const count = 20_000;
    const keys = Array.from({ length: count }, (_, i) => `key-${i}`);
    const second = new Map<string, PendingEntry>();
    for (const key of keys) scheduler.add(key, entry(key));
    for (const key of keys) {
      const e = entry(key);
      second.set(key, e);
      scheduler.add(key, e);
    }
    const firstRound = takeAll(scheduler);
    expect(firstRound.map((t) => t.key)).toEqual(keys);
    for (const key of keys) scheduler.settled(key);
    const secondRound = takeAll(scheduler);
    expect(secondRound.map((t) => t.key)).toEqual(keys);
    expect(secondRound.every((t) => t.entry === second.get(t.key))).toBe(true);
    for (const key of keys) scheduler.settled(key);
    expect(scheduler.keys).toBe(0);
    expect(scheduler.take()).toBeUndefined();
  });

  it("behaves like a simple model over random sequences of operations", () => {
    type Op =
      | { kind: "add"; key: number }
      | { kind: "take"; limit: number }
      | { kind: "settle"; pick: number }
      | { kind: "later"; pick: number; delayMs: number }
      | { kind: "again"; pick: number }
      | { kind: "tick"; ms: number }
      | { kind: "untilDue" };
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        arbitrary: fc.record({
          kind: fc.constant("add" as const),
          key: fc.integer({ min: 0, max: 7 }),
        }),
        weight: 3,
      },
      {
        arbitrary: fc.record({
          kind: fc.constant("take" as const),
          limit: fc.integer({ min: 1, max: 4 }),
        }),
        weight: 3,
      },
      { arbitrary: fc.record({ kind: fc.constant("settle" as const), pick: fc.nat() }), weight: 1 },
      {
        arbitrary: fc.record({
          kind: fc.constant("later" as const),
          pick: fc.nat(),
          delayMs: fc.integer({ min: 0, max: 50 }),
        }),
        weight: 3,
      },
      { arbitrary: fc.record({ kind: fc.constant("again" as const), pick: fc.nat() }), weight: 1 },
      {
        arbitrary: fc.record({
          kind: fc.constant("tick" as const),
          ms: fc.integer({ min: 0, max: 40 }),
        }),
        weight: 1,
      },
      // Exactly to the next retry time: a retry is due at its time, not after it.
      { arbitrary: fc.constant({ kind: "untilDue" as const }), weight: 1 },
    );

    fc.assert(
      fc.property(fc.array(op, { minLength: 20, maxLength: 200, size: "max" }), (ops) => {
        const scheduler = new KeyScheduler();
        // The model: each key's line; the keys ready, in turn order; those in flight; those
        // waiting with their retry time.
        const lines = new Map<string, PendingEntry[]>();
        const ready: string[] = [];
        const inFlight: string[] = [];
        const waiting = new Map<string, number>();
        const added: PendingEntry[] = [];
        const settledOrder = new Map<string, PendingEntry[]>();
        let now = 0;
        const makeReady = (key: string) => {
          if (!ready.includes(key)) ready.push(key);
        };
        const pickInFlight = (pick: number) =>
          inFlight.length === 0 ? undefined : inFlight.splice(pick % inFlight.length, 1)[0]!;

        for (const step of ops) {
          switch (step.kind) {
            case "add": {
              const key = `k${step.key}`;
              const e = entry(key);
              added.push(e);
              scheduler.add(key, e);
              const line = lines.get(key);
              if (line !== undefined) line.push(e);
              else {
                lines.set(key, [e]);
                makeReady(key);
              }
              break;
            }
            case "take": {
              // As the dispatcher pumps: move what is due, then take up to the room left.
              const nextDue = scheduler.due(now);
              const due = [...waiting].filter(([, at]) => at <= now).sort((x, y) => x[1] - y[1]);
              for (const [key] of due) {
                waiting.delete(key);
                makeReady(key);
              }
              const soonest = Math.min(...waiting.values());
              expect(nextDue).toBe(Number.isFinite(soonest) ? soonest : undefined);
              for (let i = 0; i < step.limit; i++) {
                const got = scheduler.take();
                const key = ready.shift();
                if (key === undefined) {
                  expect(got).toBeUndefined();
                  break;
                }
                expect(got).toEqual({ key, entry: lines.get(key)![0] });
                expect(inFlight).not.toContain(key);
                inFlight.push(key);
              }
              expect(scheduler.hasReady).toBe(ready.length > 0);
              break;
            }
            case "settle": {
              const key = pickInFlight(step.pick);
              if (key === undefined) break;
              scheduler.settled(key);
              const line = lines.get(key)!;
              const done = settledOrder.get(key) ?? [];
              done.push(line.shift()!);
              settledOrder.set(key, done);
              if (line.length === 0) lines.delete(key);
              else makeReady(key);
              break;
            }
            case "later": {
              const key = pickInFlight(step.pick);
              if (key === undefined) break;
              // Distinct times, so the order of release is defined.
              let at = now + step.delayMs;
              while ([...waiting.values()].includes(at)) at++;
              scheduler.later(key, at);
              waiting.set(key, at);
              break;
            }
            case "again": {
              const key = pickInFlight(step.pick);
              if (key === undefined) break;
              scheduler.again(key);
              makeReady(key);
              break;
            }
            case "tick":
              now += step.ms;
              break;
            case "untilDue":
              if (waiting.size > 0) now = Math.min(...waiting.values());
              break;
          }
          expect(scheduler.keys).toBe(lines.size);
        }
        // Every key's entries were resolved in the order they were added.
        for (const [key, done] of settledOrder) {
          const ofKey = added.filter((e) => e.meta.key === key);
          expect(done).toEqual(ofKey.slice(0, done.length));
        }
      }),
      { numRuns: 300 },
    );
  });
});
