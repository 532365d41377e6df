/**
 * The segments of one stream in seq order. The last is the active segment; its `bytes` is the
 * committed end, which may trail the file size while a write is in flight. Sealed segments hold
 * `baseSeq .. next.baseSeq - 1` (docs/format.md §4).
 */
import { assert } from "../../assert.js";

export interface SegmentInfo {
  baseSeq: number;
  bytes: number;
  /** The header's time (docs/format.md §4.1): no record in the segment is older, every record
   * before it is at most this old. Known once the header was read or written. */
  createdAtMs?: number;
}

export class SegmentList {
  private readonly items: SegmentInfo[];

  constructor(items: SegmentInfo[]) {
    assert(items.length > 0, "a stream always has an active segment");
    for (let i = 1; i < items.length; i++) {
      assert(items[i]!.baseSeq > items[i - 1]!.baseSeq, "segments are in seq order");
    }
    this.items = items;
  }

  get count(): number {
    return this.items.length;
  }

  get active(): SegmentInfo {
    return this.items[this.items.length - 1]!;
  }

  get first(): SegmentInfo {
    return this.items[0]!;
  }

  at(i: number): SegmentInfo | undefined {
    return this.items[i];
  }

  /** Position of the segment that holds `seq` (the last with baseSeq ≤ seq), or -1. */
  indexOfSeq(seq: number): number {
    let lo = 0;
    let hi = this.items.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]!.baseSeq <= seq) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  totalBytes(): number {
    let total = 0;
    for (const segment of this.items) total += segment.bytes;
    return total;
  }

  push(segment: SegmentInfo): void {
    assert(segment.baseSeq > this.active.baseSeq, "a new segment continues the stream");
    this.items.push(segment);
  }

  /** Removes and returns the oldest sealed segment (never the active one). */
  shift(): SegmentInfo | undefined {
    if (this.items.length < 2) return undefined;
    return this.items.shift();
  }

  all(): readonly SegmentInfo[] {
    return this.items;
  }
}
