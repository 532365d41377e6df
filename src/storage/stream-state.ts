/**
 * The in-memory state of one stream that the writer, the readers and followers share: its
 * segments, the sparse index of the active segment, and the committed tail. Only the writer
 * changes it, and only after the bytes it describes are written (and, under 'always', synced),
 * so a reader never sees a record that is not committed.
 */

import type { SegmentList } from "./segment-list.js";
import type { SparseIndex } from "./sparse-index.js";
import type { TailState } from "./tail-scan.js";

export class StreamState {
  private waiters = new Set<() => void>();
  /** Set when the journal closes or the stream is deleted; followers end. */
  ended = false;
  /** Last time the stream was appended to or read (ms), for idle sweeping. */
  touchedAtMs: number;

  constructor(
    readonly name: string,
    readonly dir: string,
    readonly tag: number,
    readonly createdAtMs: number,
    public segments: SegmentList,
    public activeIndex: SparseIndex,
    public tail: TailState,
    nowMs: number,
  ) {
    this.touchedAtMs = nowMs;
  }

  get lastSeq(): number {
    return this.tail.lastSeq;
  }

  get firstSeq(): number {
    return this.segments.first.baseSeq;
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
