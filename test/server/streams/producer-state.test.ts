/**
 * The idempotent-producer rules (PROTOCOL.md §5.2.1) and the coordination state's two
 * encodings: the change stored in each record's attributes, and the snapshot kept in the
 * stream's metadata. Recovery rebuilds the state from both, so each must give back exactly what
 * went in.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  applyChange,
  type CoordinationChange,
  type CoordinationState,
  cloneState,
  decideProducer,
  decodeChange,
  emptyState,
  encodeChange,
  fromSnapshot,
  isEmptyChange,
  PRODUCERS_PER_STREAM_MAX,
  type ProducerDecision,
  type ProducerTuple,
  streamSeqAllowed,
  toSnapshot,
} from "../../../src/server/streams/producer-state.js";

/** A state where each producer has accepted up to the given epoch and seq. */
function stateWith(producers: Record<string, [epoch: number, seq: number]>): CoordinationState {
  const state = emptyState();
  for (const [id, [epoch, seq]] of Object.entries(producers))
    applyChange(state, { producer: { id, epoch, seq } });
  return state;
}

/**
 * The decision table written out case by case, as the protocol states it: the reference the
 * implementation is compared with.
 */
function referenceDecision(
  last: { epoch: number; seq: number } | undefined,
  tuple: ProducerTuple,
): ProducerDecision {
  if (last === undefined) {
    // A producer nobody has seen must start at seq 0, whatever its epoch.
    if (tuple.seq === 0) return { kind: "accept" };
    return { kind: "gap", expectedSeq: 0 };
  }
  if (tuple.epoch === last.epoch) {
    if (tuple.seq === last.seq + 1) return { kind: "accept" };
    if (tuple.seq > last.seq + 1) return { kind: "gap", expectedSeq: last.seq + 1 };
    return { kind: "duplicate", epoch: last.epoch, highestSeq: last.seq };
  }
  if (tuple.epoch > last.epoch) {
    if (tuple.seq === 0) return { kind: "accept" };
    return { kind: "bad-epoch-seq" };
  }
  return { kind: "stale-epoch", currentEpoch: last.epoch };
}

describe("decideProducer", () => {
  const state = stateWith({ p: [3, 7] });

  it("accepts a new producer only at seq 0, at any epoch", () => {
    expect(decideProducer(state, { id: "new", epoch: 0, seq: 0 })).toEqual({ kind: "accept" });
    expect(decideProducer(state, { id: "new", epoch: 42, seq: 0 })).toEqual({ kind: "accept" });
    expect(decideProducer(state, { id: "new", epoch: 0, seq: 1 })).toEqual({
      kind: "gap",
      expectedSeq: 0,
    });
  });

  it("accepts the next seq in the same epoch", () => {
    expect(decideProducer(state, { id: "p", epoch: 3, seq: 8 })).toEqual({ kind: "accept" });
  });

  it("answers a seq at or below the last one as a duplicate, naming the highest seq", () => {
    for (const seq of [7, 6, 0]) {
      expect(decideProducer(state, { id: "p", epoch: 3, seq })).toEqual({
        kind: "duplicate",
        epoch: 3,
        highestSeq: 7,
      });
    }
  });

  it("reports a gap past the next seq, with the seq expected", () => {
    expect(decideProducer(state, { id: "p", epoch: 3, seq: 9 })).toEqual({
      kind: "gap",
      expectedSeq: 8,
    });
    expect(decideProducer(state, { id: "p", epoch: 3, seq: 1000 })).toEqual({
      kind: "gap",
      expectedSeq: 8,
    });
  });

  it("accepts a higher epoch only at seq 0", () => {
    expect(decideProducer(state, { id: "p", epoch: 4, seq: 0 })).toEqual({ kind: "accept" });
    expect(decideProducer(state, { id: "p", epoch: 9, seq: 0 })).toEqual({ kind: "accept" });
    expect(decideProducer(state, { id: "p", epoch: 4, seq: 8 })).toEqual({
      kind: "bad-epoch-seq",
    });
  });

  it("fences a stale epoch, naming the current one, whatever its seq", () => {
    for (const seq of [0, 7, 8, 100]) {
      expect(decideProducer(state, { id: "p", epoch: 2, seq })).toEqual({
        kind: "stale-epoch",
        currentEpoch: 3,
      });
    }
  });

  it("keeps each producer's state apart", () => {
    const two = stateWith({ a: [1, 5], b: [2, 0] });
    expect(decideProducer(two, { id: "a", epoch: 1, seq: 6 })).toEqual({ kind: "accept" });
    expect(decideProducer(two, { id: "b", epoch: 2, seq: 1 })).toEqual({ kind: "accept" });
    expect(decideProducer(two, { id: "b", epoch: 1, seq: 6 })).toEqual({
      kind: "stale-epoch",
      currentEpoch: 2,
    });
  });

  it("does not change the state it decides on", () => {
    const before = toSnapshot(state, 1);
    decideProducer(state, { id: "p", epoch: 3, seq: 8 });
    decideProducer(state, { id: "q", epoch: 0, seq: 0 });
    expect(toSnapshot(state, 1)).toEqual(before);
  });

  it("decides like the protocol's table over random request sequences, applying what it accepts", () => {
    const tuple = fc.record({
      id: fc.constantFrom("a", "b", "c"),
      epoch: fc.integer({ min: 0, max: 4 }),
      seq: fc.integer({ min: 0, max: 6 }),
    });
    fc.assert(
      fc.property(fc.array(tuple, { minLength: 10, maxLength: 200, size: "max" }), (requests) => {
        const state = emptyState();
        const model = new Map<string, { epoch: number; seq: number }>();
        for (const request of requests) {
          const decision = decideProducer(state, request);
          expect(decision).toEqual(referenceDecision(model.get(request.id), request));
          if (decision.kind !== "accept") continue;
          applyChange(state, { producer: request });
          model.set(request.id, { epoch: request.epoch, seq: request.seq });
          // Once accepted, the same request again is a duplicate: retries are idempotent.
          expect(decideProducer(state, request)).toEqual({
            kind: "duplicate",
            epoch: request.epoch,
            highestSeq: request.seq,
          });
        }
        expect(new Map(state.producers)).toEqual(model);
      }),
    );
  });
});

describe("applyChange", () => {
  it("records the producer's epoch and seq, and a higher epoch fences the old one", () => {
    const state = emptyState();
    applyChange(state, { producer: { id: "p", epoch: 0, seq: 0 } });
    applyChange(state, { producer: { id: "p", epoch: 0, seq: 1 } });
    expect(state.producers.get("p")).toEqual({ epoch: 0, seq: 1 });
    applyChange(state, { producer: { id: "p", epoch: 1, seq: 0 } });
    expect(state.producers.get("p")).toEqual({ epoch: 1, seq: 0 });
    expect(decideProducer(state, { id: "p", epoch: 0, seq: 2 })).toEqual({
      kind: "stale-epoch",
      currentEpoch: 1,
    });
  });

  it("sets the stream seq, and a close names the producer that closed (or none)", () => {
    const state = emptyState();
    applyChange(state, { streamSeq: "0001" });
    expect(state.streamSeq).toBe("0001");
    expect(state.closed).toBe(false);

    const byProducer = cloneState(state);
    applyChange(byProducer, { producer: { id: "p", epoch: 2, seq: 5 }, close: true });
    expect(byProducer).toMatchObject({ closed: true, closedBy: { id: "p", epoch: 2, seq: 5 } });

    const anonymous = cloneState(state);
    applyChange(anonymous, { close: true });
    expect(anonymous).toMatchObject({ closed: true, closedBy: null, streamSeq: "0001" });
  });

  it("changes nothing for an empty change, and isEmptyChange says which changes are empty", () => {
    const state = stateWith({ p: [1, 1] });
    const before = toSnapshot(state, 0);
    applyChange(state, {});
    applyChange(state, { close: false });
    expect(toSnapshot(state, 0)).toEqual(before);
    expect(isEmptyChange({})).toBe(true);
    expect(isEmptyChange({ close: false })).toBe(true);
    expect(isEmptyChange({ close: true })).toBe(false);
    expect(isEmptyChange({ streamSeq: "" })).toBe(false);
    expect(isEmptyChange({ producer: { id: "p", epoch: 0, seq: 0 } })).toBe(false);
  });

  it(`remembers at most ${PRODUCERS_PER_STREAM_MAX} producers, forgetting the least recently used`, () => {
    const state = emptyState();
    for (let i = 0; i < PRODUCERS_PER_STREAM_MAX; i++)
      applyChange(state, { producer: { id: `p${i}`, epoch: 0, seq: 0 } });
    expect(state.producers.size).toBe(PRODUCERS_PER_STREAM_MAX);
    // p0 is the oldest; using it again makes p1 the least recently used.
    applyChange(state, { producer: { id: "p0", epoch: 0, seq: 1 } });
    applyChange(state, { producer: { id: "newcomer", epoch: 0, seq: 0 } });
    expect(state.producers.size).toBe(PRODUCERS_PER_STREAM_MAX);
    expect(state.producers.has("p1")).toBe(false);
    expect(state.producers.get("p0")).toEqual({ epoch: 0, seq: 1 });
    expect(state.producers.has("newcomer")).toBe(true);
    // A forgotten producer is a new one again: it must restart at seq 0.
    expect(decideProducer(state, { id: "p1", epoch: 0, seq: 1 })).toEqual({
      kind: "gap",
      expectedSeq: 0,
    });
  });
});

describe("cloneState", () => {
  it("gives a copy that changes independently of the original", () => {
    const state = stateWith({ p: [1, 1] });
    applyChange(state, { producer: { id: "p", epoch: 1, seq: 2 }, close: true });
    const copy = cloneState(state);
    applyChange(copy, { producer: { id: "p", epoch: 1, seq: 3 }, streamSeq: "9" });
    copy.closedBy!.seq = 99;
    expect(state.producers.get("p")).toEqual({ epoch: 1, seq: 2 });
    expect(state.streamSeq).toBeNull();
    expect(state.closedBy).toEqual({ id: "p", epoch: 1, seq: 2 });
  });
});

describe("streamSeqAllowed", () => {
  it("allows any first Stream-Seq, then only a greater one", () => {
    const state = emptyState();
    expect(streamSeqAllowed(state, "")).toBe(true);
    expect(streamSeqAllowed(state, "5")).toBe(true);
    applyChange(state, { streamSeq: "5" });
    expect(streamSeqAllowed(state, "5")).toBe(false);
    expect(streamSeqAllowed(state, "4")).toBe(false);
    expect(streamSeqAllowed(state, "6")).toBe(true);
    expect(streamSeqAllowed(state, "50")).toBe(true);
  });

  it("compares as bytes, not as numbers: '10' comes before '9'", () => {
    const state = emptyState();
    applyChange(state, { streamSeq: "9" });
    expect(streamSeqAllowed(state, "10")).toBe(false);
    expect(streamSeqAllowed(state, "90")).toBe(true);
  });

  it("compares UTF-8 bytes, not UTF-16 code units", () => {
    // U+FFFF is EF BF BF in UTF-8, U+10000 is F0 90 80 80: greater as bytes, although as
    // UTF-16 (D800 DC00) it sorts before U+FFFF.
    const state = emptyState();
    applyChange(state, { streamSeq: "\uffff" });
    expect("\u{10000}" < "\uffff").toBe(true);
    expect(streamSeqAllowed(state, "\u{10000}")).toBe(true);
  });

  it("agrees with a byte-by-byte comparison of the UTF-8 encodings", () => {
    const bytesGreater = (a: string, b: string): boolean => {
      const x = new TextEncoder().encode(a);
      const y = new TextEncoder().encode(b);
      for (let i = 0; i < Math.min(x.length, y.length); i++)
        if (x[i] !== y[i]) return x[i]! > y[i]!;
      return x.length > y.length;
    };
    const seq = fc.string({ unit: "grapheme", maxLength: 6 });
    fc.assert(
      fc.property(seq, seq, (last, next) => {
        const state = emptyState();
        applyChange(state, { streamSeq: last });
        expect(streamSeqAllowed(state, next)).toBe(bytesGreater(next, last));
      }),
    );
  });
});

const producerTuple = fc.record({
  id: fc.string({ unit: "binary", maxLength: 20 }),
  epoch: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  seq: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
});

const change: fc.Arbitrary<CoordinationChange> = fc.record(
  {
    producer: producerTuple,
    streamSeq: fc.string({ unit: "binary", maxLength: 20 }),
    close: fc.boolean(),
  },
  { requiredKeys: [] },
);

describe("encodeChange / decodeChange", () => {
  it("round-trips every change (a close of false is the same as none)", () => {
    fc.assert(
      fc.property(change, (original) => {
        const expected: CoordinationChange = { ...original };
        if (expected.close !== true) delete expected.close;
        expect(decodeChange(encodeChange(original))).toEqual(expected);
      }),
    );
  });

  it("replaying decoded changes rebuilds the same state as applying the originals", () => {
    fc.assert(
      fc.property(fc.array(change, { maxLength: 30, size: "max" }), (changes) => {
        const direct = emptyState();
        const replayed = emptyState();
        for (const c of changes) {
          applyChange(direct, c);
          applyChange(replayed, decodeChange(encodeChange(c))!);
        }
        expect(toSnapshot(replayed, 0)).toEqual(toSnapshot(direct, 0));
      }),
    );
  });

  it("decodes attributes that are not JSON, or not an object, as no change", () => {
    for (const text of ["", "{", "not json", "null", "5", '"p"', "true"])
      expect(decodeChange(Buffer.from(text)), text).toBeUndefined();
    expect(decodeChange(Uint8Array.of(0xff, 0xfe, 0x00))).toBeUndefined();
  });

  it("ignores fields of the wrong shape", () => {
    const decode = (json: unknown) => decodeChange(Buffer.from(JSON.stringify(json)));
    expect(decode({ p: ["x", 1.5, 0] })).toEqual({});
    expect(decode({ p: ["x", 1, "2"] })).toEqual({});
    expect(decode({ p: [1, 1, 2] })).toEqual({});
    expect(decode({ p: ["x", 1] })).toEqual({});
    expect(decode({ p: ["x", 1, 2, 3] })).toEqual({});
    expect(decode({ p: ["x", 2 ** 53, 0] })).toEqual({});
    expect(decode({ s: 7 })).toEqual({});
    expect(decode({ c: true })).toEqual({});
    expect(decode({ p: ["x", 1, 2], s: "a", c: 1, other: 0 })).toEqual({
      producer: { id: "x", epoch: 1, seq: 2 },
      streamSeq: "a",
      close: true,
    });
  });

  it("never throws on random bytes, and anything it decodes is well formed", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const decoded = decodeChange(bytes);
        if (decoded === undefined) return;
        if (decoded.producer !== undefined) {
          expect(typeof decoded.producer.id).toBe("string");
          expect(Number.isSafeInteger(decoded.producer.epoch)).toBe(true);
          expect(Number.isSafeInteger(decoded.producer.seq)).toBe(true);
        }
        if (decoded.streamSeq !== undefined) expect(typeof decoded.streamSeq).toBe("string");
        if (decoded.close !== undefined) expect(decoded.close).toBe(true);
      }),
    );
  });
});

describe("toSnapshot / fromSnapshot", () => {
  it("starts from the empty state at seq 0 without a snapshot", () => {
    const { state, seq } = fromSnapshot(undefined);
    expect(seq).toBe(0);
    expect(toSnapshot(state, 0)).toEqual(toSnapshot(emptyState(), 0));
  });

  it("round-trips any state through JSON, keeping the producers' recency order", () => {
    fc.assert(
      fc.property(
        fc.array(change, { maxLength: 30, size: "max" }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        (changes, seq) => {
          const state = emptyState();
          for (const c of changes) applyChange(state, c);
          const stored = JSON.parse(JSON.stringify(toSnapshot(state, seq)));
          const back = fromSnapshot(stored);
          expect(back.seq).toBe(seq);
          expect(back.state.streamSeq).toBe(state.streamSeq);
          expect(back.state.closed).toBe(state.closed);
          expect(back.state.closedBy).toEqual(state.closedBy);
          // Map order is what eviction goes by: it must survive too.
          expect([...back.state.producers]).toEqual([...state.producers]);
        },
      ),
    );
  });

  it("decides the same after a restart from the snapshot as before it", () => {
    const state = stateWith({ a: [2, 4], b: [0, 0] });
    applyChange(state, { streamSeq: "x", close: true, producer: { id: "a", epoch: 2, seq: 5 } });
    const { state: restored } = fromSnapshot(JSON.parse(JSON.stringify(toSnapshot(state, 12))));
    const probes: ProducerTuple[] = [
      { id: "a", epoch: 2, seq: 5 },
      { id: "a", epoch: 2, seq: 6 },
      { id: "a", epoch: 1, seq: 0 },
      { id: "b", epoch: 0, seq: 2 },
      { id: "c", epoch: 0, seq: 0 },
    ];
    for (const probe of probes)
      expect(decideProducer(restored, probe)).toEqual(decideProducer(state, probe));
    expect(restored.closedBy).toEqual({ id: "a", epoch: 2, seq: 5 });
    expect(streamSeqAllowed(restored, "x")).toBe(false);
  });
});
