/**
 * A set of seqs kept as sorted, disjoint ranges. The outbox's resolved entries above its
 * low-water mark are mostly long contiguous runs (one slow entry holds the mark while everything
 * after it is delivered), so a million of them cost a few numbers here, in memory and in a log
 * snapshot, instead of an entry each.
 */
export class SeqRanges {
  /** [first, last] pairs, sorted, disjoint and not adjacent. */
  private ranges: Array<[number, number]> = [];

  static from(items: ReadonlyArray<number | readonly [number, number]>): SeqRanges {
    const set = new SeqRanges();
    for (const item of items) {
      if (typeof item === "number") set.add(item);
      else for (let seq = item[0]; seq <= item[1]; seq++) set.add(seq);
    }
    return set;
  }

  add(seq: number): void {
    const ranges = this.ranges;
    // The common case: at or past the end of the last range.
    const last = ranges.at(-1);
    if (last === undefined || seq > last[1] + 1) {
      ranges.push([seq, seq]);
      return;
    }
    if (seq === last[1] + 1) {
      last[1] = seq;
      return;
    }
    const i = this.indexAtOrAfter(seq); // first range whose last >= seq
    const range = ranges[i]!;
    if (seq >= range[0]) return; // already in
    const previous = ranges[i - 1];
    const joinsPrevious = previous !== undefined && previous[1] === seq - 1;
    const joinsNext = range[0] === seq + 1;
    if (joinsPrevious && joinsNext) {
      previous[1] = range[1];
      ranges.splice(i, 1);
    } else if (joinsPrevious) previous[1] = seq;
    else if (joinsNext) range[0] = seq;
    else ranges.splice(i, 0, [seq, seq]);
  }

  has(seq: number): boolean {
    const i = this.indexAtOrAfter(seq);
    const range = this.ranges[i];
    return range !== undefined && seq >= range[0];
  }

  /** Forgets every seq at or below `seq`. */
  deleteThrough(seq: number): void {
    let drop = 0;
    while (drop < this.ranges.length && this.ranges[drop]![1] <= seq) drop++;
    if (drop > 0) this.ranges.splice(0, drop);
    const first = this.ranges[0];
    if (first !== undefined && first[0] <= seq) first[0] = seq + 1;
  }

  toJSON(): Array<[number, number]> {
    return this.ranges.map(([first, last]) => [first, last]);
  }

  private indexAtOrAfter(seq: number): number {
    let low = 0;
    let high = this.ranges.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.ranges[mid]![1] < seq) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
