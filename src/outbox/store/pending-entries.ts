/**
 * The pending entries of an outbox, by seq, with the oldest at hand. A Map alone would do, but
 * reading its first key walks over every entry deleted since V8 last shrank the table, and
 * delivery deletes from the front: with 100,000 pending entries that walk made finding the
 * oldest (on every delivery) a tenth of the outbox's CPU time. A queue of seqs with a head that
 * only moves forward makes it amortized O(1).
 */
import { assert } from "../../assert.js";
import type { PendingEntry } from "./outbox-records.js";

/** Seqs before the head are dropped from the queue once they are this many and half of it. */
const COMPACT_AFTER = 4096;

export class PendingEntries {
  private readonly bySeq = new Map<number, PendingEntry>();
  /** Seqs in ascending order; those before `head`, and any no longer in `bySeq`, are gone. */
  private order: number[] = [];
  private head = 0;

  get size(): number {
    return this.bySeq.size;
  }

  has(seq: number): boolean {
    return this.bySeq.has(seq);
  }

  get(seq: number): PendingEntry | undefined {
    return this.bySeq.get(seq);
  }

  /** In seq order. */
  values(): IterableIterator<PendingEntry> {
    return this.bySeq.values();
  }

  add(entry: PendingEntry): void {
    const { seq } = entry;
    // Entries arrive in seq order (enqueue, recovery); anything else would break `values()`.
    const last = this.order.at(-1) ?? 0;
    assert(seq > last, `pending entry ${seq} added after entry ${last}`);
    this.bySeq.set(seq, entry);
    this.order.push(seq);
  }

  delete(seq: number): boolean {
    return this.bySeq.delete(seq);
  }

  /** The pending entry with the lowest seq. */
  first(): PendingEntry | undefined {
    const order = this.order;
    while (this.head < order.length && !this.bySeq.has(order[this.head]!)) this.head++;
    if (this.head >= COMPACT_AFTER && this.head * 2 >= order.length) {
      this.order = order.slice(this.head);
      this.head = 0;
    }
    const seq = this.order[this.head];
    return seq === undefined ? undefined : this.bySeq.get(seq);
  }
}
