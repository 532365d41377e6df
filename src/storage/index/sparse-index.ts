/**
 * The in-memory sparse index of one segment (docs/format.md §6): one entry for the first record
 * and one per `INDEX_INTERVAL_BYTES` after it, so a lookup by seq or time is a binary search plus
 * a scan of at most 64 KiB. Entries are kept in parallel arrays in seq order; seqs, timestamps
 * and offsets all increase (timestamps never decrease), so one search serves each key.
 */
import { assert } from "../../assert.js";
import { INDEX_INTERVAL_BYTES, SEGMENT_HEADER_BYTES } from "../../format/constants.js";
import type { IndexEntry } from "../../format/index-entry.js";

export class SparseIndex {
  private seqs: number[] = [];
  private pendingLoad: (() => Promise<readonly IndexEntry[]>) | undefined;
  private loading: Promise<void> | undefined;
  private timestamps: number[] = [];
  private offsets: number[] = [];
  /** The next offset at or past which a record gets an entry. */
  private nextOffset = SEGMENT_HEADER_BYTES;

  get size(): number {
    return this.seqs.length;
  }

  /**
   * Entries that belong before the ones held, still on disk: recovery leaves the index file of
   * the active segment unread until a read (or the index writer) needs it.
   */
  deferLoad(loader: () => Promise<readonly IndexEntry[]>): void {
    this.pendingLoad = loader;
  }

  /** Resolves once deferred entries are in. Every user of the index awaits this first. */
  ready(): Promise<void> {
    if (this.loading !== undefined) return this.loading;
    if (this.pendingLoad === undefined) return Promise.resolve();
    const loader = this.pendingLoad;
    this.pendingLoad = undefined;
    this.loading = loader().then(
      (entries) => this.prepend(entries),
      () => undefined, // a hint that cannot be read is rebuilt by scanning when needed
    );
    return this.loading;
  }

  /** A record starting at or past this offset gets an entry when offered. */
  get nextEntryOffset(): number {
    return this.nextOffset;
  }

  /** Offers a record just committed (or scanned); returns the entry if it was indexed. */
  offer(seq: number, timestampMs: number, offset: number): IndexEntry | undefined {
    if (offset < this.nextOffset) return undefined;
    this.push(seq, timestampMs, offset);
    return { seq, timestampMs, offset };
  }

  /** Adds entries loaded from an index file, in order, skipping any that break monotonicity. */
  load(entries: readonly IndexEntry[]): void {
    for (const entry of entries) {
      const last = this.seqs.length - 1;
      if (last >= 0 && (entry.seq <= this.seqs[last]! || entry.offset <= this.offsets[last]!))
        continue;
      if (last >= 0 && entry.timestampMs < this.timestamps[last]!) continue;
      this.push(entry.seq, entry.timestampMs, entry.offset);
    }
  }

  /** Puts entries that precede every entry held in front of them (deferred loads). */
  private prepend(entries: readonly IndexEntry[]): void {
    const before = new SparseIndex();
    const firstOffset = this.offsets[0] ?? Number.POSITIVE_INFINITY;
    before.load(
      entries.filter(
        (entry) =>
          entry.offset < firstOffset && (this.seqs[0] === undefined || entry.seq < this.seqs[0]),
      ),
    );
    if (before.size === 0) return;
    this.seqs = [...before.seqs, ...this.seqs];
    this.timestamps = [...before.timestamps, ...this.timestamps];
    this.offsets = [...before.offsets, ...this.offsets];
  }

  /** Drops entries at or past `offset` (after a truncation). */
  truncate(offset: number): void {
    let keep = this.offsets.length;
    while (keep > 0 && this.offsets[keep - 1]! >= offset) keep--;
    this.seqs.length = keep;
    this.timestamps.length = keep;
    this.offsets.length = keep;
    this.nextOffset =
      keep === 0 ? SEGMENT_HEADER_BYTES : this.offsets[keep - 1]! + INDEX_INTERVAL_BYTES;
  }

  /** The last entry whose seq is ≤ `seq`. */
  floorBySeq(seq: number): IndexEntry | undefined {
    return this.entryAt(lastAtOrBelow(this.seqs, seq));
  }

  /** The last entry whose timestamp is < `timestampMs`: records from the time start after it. */
  lastBeforeTime(timestampMs: number): IndexEntry | undefined {
    return this.entryAt(lastAtOrBelow(this.timestamps, timestampMs - 1));
  }

  first(): IndexEntry | undefined {
    return this.entryAt(0);
  }

  /** The first entry at an offset greater than `offset` (a place to resume after damage). */
  firstAfterOffset(offset: number): IndexEntry | undefined {
    return this.entryAt(lastAtOrBelow(this.offsets, offset) + 1);
  }

  entries(): IndexEntry[] {
    return this.seqs.map((seq, i) => ({
      seq,
      timestampMs: this.timestamps[i]!,
      offset: this.offsets[i]!,
    }));
  }

  private push(seq: number, timestampMs: number, offset: number): void {
    const last = this.seqs.length - 1;
    assert(last < 0 || (seq > this.seqs[last]! && offset > this.offsets[last]!), "index grows");
    this.seqs.push(seq);
    this.timestamps.push(timestampMs);
    this.offsets.push(offset);
    this.nextOffset = offset + INDEX_INTERVAL_BYTES;
  }

  private entryAt(i: number): IndexEntry | undefined {
    if (i < 0 || i >= this.seqs.length) return undefined;
    return { seq: this.seqs[i]!, timestampMs: this.timestamps[i]!, offset: this.offsets[i]! };
  }
}

/** Index of the last element ≤ key in an ascending array, or -1. */
function lastAtOrBelow(sorted: readonly number[], key: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= key) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}
