/**
 * The in-memory state of one stream that the writer, the readers and followers share: its
 * segments, the sparse index of the active segment, the committed tail, and its configuration.
 * Only the writer changes the data part, and only after the bytes it describes are written (and,
 * under 'always', synced), so a reader never sees a record that is not committed.
 */

import type { SparseIndex } from "../index/sparse-index.js";
import type { TailState } from "../recovery/tail-scan.js";
import type { ResolvedLimits, Retention } from "../retention/stream-limits.js";
import { type LostRange, lostCount } from "./lost-ranges.js";
import type { SegmentList } from "./segment-list.js";

export interface StreamStateInit {
  name: string;
  /** 16 hex digits, unique per incarnation of the name (docs/format.md §3); the log names it. */
  id: string;
  dir: string;
  tag: number;
  createdAtMs: number;
  segments: SegmentList;
  activeIndex: SparseIndex;
  tail: TailState;
  /** The active segment's header time: no record in it is older (docs/format.md §4.1). */
  activeCreatedAtMs: number;
  nowMs: number;
  limits: ResolvedLimits;
  retention: Retention;
  trimmedBefore: number;
  meta: Record<string, unknown>;
  lost?: readonly LostRange[];
}

export class StreamState {
  readonly name: string;
  readonly id: string;
  readonly dir: string;
  readonly tag: number;
  readonly createdAtMs: number;
  segments: SegmentList;
  activeIndex: SparseIndex;
  tail: TailState;
  activeCreatedAtMs: number;
  limits: ResolvedLimits;
  retention: Retention;
  /** Records below this seq were released by `trim` (their segments may still be on disk). */
  trimmedBefore: number;
  /** Metadata of the layers above the journal, stored in stream.json. */
  meta: Record<string, unknown>;
  /** Seqs known not to be held (lost-ranges.ts): reads step over them. */
  lost: readonly LostRange[];
  /** Durable consumers' positions (last acknowledged seq), by consumer name. */
  readonly consumerPositions = new Map<string, number>();
  /** Set when the journal closes or the stream is deleted; followers end. */
  ended = false;
  /** Set when the stream was deleted (appends and reads say so). */
  deleted = false;
  /** Last time the stream was appended to or read (ms), for idle sweeping. */
  touchedAtMs: number;
  private waiters = new Set<() => void>();

  constructor(init: StreamStateInit) {
    this.name = init.name;
    this.id = init.id;
    this.dir = init.dir;
    this.tag = init.tag;
    this.createdAtMs = init.createdAtMs;
    this.segments = init.segments;
    this.activeIndex = init.activeIndex;
    this.tail = init.tail;
    this.activeCreatedAtMs = init.activeCreatedAtMs;
    this.limits = init.limits;
    this.retention = init.retention;
    this.trimmedBefore = init.trimmedBefore;
    this.meta = init.meta;
    this.lost = init.lost ?? [];
    this.touchedAtMs = init.nowMs;
  }

  get lastSeq(): number {
    return this.tail.lastSeq;
  }

  /** The first seq still held: `lastSeq + 1` when the stream holds none. */
  get firstSeq(): number {
    return Math.min(Math.max(this.segments.first.baseSeq, this.trimmedBefore), this.lastSeq + 1);
  }

  /** Records held: the seqs from firstSeq to lastSeq, less the ones known lost. */
  get records(): number {
    const span = this.lastSeq - this.firstSeq + 1;
    return this.lost.length === 0 ? span : span - lostCount(this.lost, this.firstSeq, this.lastSeq);
  }

  /** The lowest consumer position, or undefined when the stream has no consumer. */
  ackedMin(): number | undefined {
    let min: number | undefined;
    for (const position of this.consumerPositions.values()) {
      if (min === undefined || position < min) min = position;
    }
    return min;
  }

  /** Calls `wake` once, at the next commit or when the stream ends; returns a cancel function. */
  onChange(wake: () => void): () => void {
    this.waiters.add(wake);
    return () => {
      this.waiters.delete(wake);
    };
  }

  get waitersCount(): number {
    return this.waiters.size;
  }

  notify(): void {
    if (this.waiters.size === 0) return;
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const wake of waiters) wake();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }
}
