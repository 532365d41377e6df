/**
 * The writer-coordination state of one Durable Streams stream (PROTOCOL.md §5.2, §4.1):
 * idempotent producers (`Producer-Id/Epoch/Seq`), the last `Stream-Seq`, and whether the stream
 * is closed (and by which producer request). Decisions are pure functions of this state, so the
 * same rules apply to requests being validated and to records being replayed at startup.
 *
 * The state travels with the data: every append that changes it carries its change in the
 * journal record's attributes, and a snapshot is kept in the stream's metadata, so after a crash
 * the state is the snapshot plus the records written since — exactly what was committed.
 */

export interface ProducerTuple {
  id: string;
  epoch: number;
  seq: number;
}

export interface CoordinationState {
  /** Producer id → last accepted epoch and seq. */
  producers: Map<string, { epoch: number; seq: number }>;
  streamSeq: string | null;
  closed: boolean;
  closedBy: ProducerTuple | null;
}

/** At most this many producers are remembered per stream; the least recently used go first. */
export const PRODUCERS_PER_STREAM_MAX = 10_000;

export function emptyState(): CoordinationState {
  return { producers: new Map(), streamSeq: null, closed: false, closedBy: null };
}

export function cloneState(state: CoordinationState): CoordinationState {
  return {
    producers: new Map([...state.producers].map(([id, value]) => [id, { ...value }])),
    streamSeq: state.streamSeq,
    closed: state.closed,
    closedBy: state.closedBy === null ? null : { ...state.closedBy },
  };
}

export type ProducerDecision =
  | { kind: "accept" }
  | { kind: "duplicate"; epoch: number; highestSeq: number }
  | { kind: "stale-epoch"; currentEpoch: number }
  | { kind: "bad-epoch-seq" }
  | { kind: "gap"; expectedSeq: number };

/** The decision table of PROTOCOL.md §5.2.1. */
export function decideProducer(state: CoordinationState, tuple: ProducerTuple): ProducerDecision {
  const known = state.producers.get(tuple.id);
  if (known === undefined)
    return tuple.seq === 0 ? { kind: "accept" } : { kind: "gap", expectedSeq: 0 };
  if (tuple.epoch < known.epoch) return { kind: "stale-epoch", currentEpoch: known.epoch };
  if (tuple.epoch > known.epoch)
    return tuple.seq === 0 ? { kind: "accept" } : { kind: "bad-epoch-seq" };
  if (tuple.seq <= known.seq)
    return { kind: "duplicate", epoch: known.epoch, highestSeq: known.seq };
  if (tuple.seq === known.seq + 1) return { kind: "accept" };
  return { kind: "gap", expectedSeq: known.seq + 1 };
}

/** `Stream-Seq` values must increase, compared as bytes. */
export function streamSeqAllowed(state: CoordinationState, streamSeq: string): boolean {
  return (
    state.streamSeq === null ||
    Buffer.compare(Buffer.from(streamSeq), Buffer.from(state.streamSeq)) > 0
  );
}

/** What an accepted append changes, as stored in its record's attributes. */
export interface CoordinationChange {
  producer?: ProducerTuple;
  streamSeq?: string;
  close?: boolean;
}

export function applyChange(state: CoordinationState, change: CoordinationChange): void {
  if (change.producer !== undefined) {
    const { id, epoch, seq } = change.producer;
    state.producers.delete(id); // re-insert: Map order is recency
    state.producers.set(id, { epoch, seq });
    if (state.producers.size > PRODUCERS_PER_STREAM_MAX) {
      state.producers.delete(state.producers.keys().next().value as string);
    }
  }
  if (change.streamSeq !== undefined) state.streamSeq = change.streamSeq;
  if (change.close === true) {
    state.closed = true;
    state.closedBy = change.producer ?? null;
  }
}

export function isEmptyChange(change: CoordinationChange): boolean {
  return change.producer === undefined && change.streamSeq === undefined && change.close !== true;
}

export function encodeChange(change: CoordinationChange): Uint8Array {
  const json: Record<string, unknown> = {};
  if (change.producer !== undefined)
    json["p"] = [change.producer.id, change.producer.epoch, change.producer.seq];
  if (change.streamSeq !== undefined) json["s"] = change.streamSeq;
  if (change.close === true) json["c"] = 1;
  return Buffer.from(JSON.stringify(json));
}

/** Decodes record attributes; undefined if they are not a coordination change. */
export function decodeChange(attributes: Uint8Array): CoordinationChange | undefined {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(attributes).toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof json !== "object" || json === null) return undefined;
  const raw = json as { p?: unknown; s?: unknown; c?: unknown };
  const change: CoordinationChange = {};
  if (Array.isArray(raw.p) && raw.p.length === 3) {
    const [id, epoch, seq] = raw.p as [unknown, unknown, unknown];
    if (typeof id === "string" && Number.isSafeInteger(epoch) && Number.isSafeInteger(seq)) {
      change.producer = { id, epoch: epoch as number, seq: seq as number };
    }
  }
  if (typeof raw.s === "string") change.streamSeq = raw.s;
  if (raw.c === 1) change.close = true;
  return change;
}

export interface StateSnapshot {
  /** The stream's own seq up to which the snapshot holds. */
  seq: number;
  producers: Array<[string, number, number]>;
  streamSeq: string | null;
  closed: boolean;
  closedBy: [string, number, number] | null;
}

export function toSnapshot(state: CoordinationState, seq: number): StateSnapshot {
  return {
    seq,
    producers: [...state.producers].map(([id, { epoch, seq: last }]) => [id, epoch, last]),
    streamSeq: state.streamSeq,
    closed: state.closed,
    closedBy:
      state.closedBy === null
        ? null
        : [state.closedBy.id, state.closedBy.epoch, state.closedBy.seq],
  };
}

export function fromSnapshot(snapshot: StateSnapshot | undefined): {
  state: CoordinationState;
  seq: number;
} {
  const state = emptyState();
  if (snapshot === undefined) return { state, seq: 0 };
  for (const [id, epoch, seq] of snapshot.producers) state.producers.set(id, { epoch, seq });
  state.streamSeq = snapshot.streamSeq;
  state.closed = snapshot.closed;
  state.closedBy =
    snapshot.closedBy === null
      ? null
      : { id: snapshot.closedBy[0], epoch: snapshot.closedBy[1], seq: snapshot.closedBy[2] };
  return { state, seq: snapshot.seq };
}
