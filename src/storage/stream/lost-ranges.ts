/**
 * Seqs a stream knows it does not hold (docs/format.md §3, `lost` in stream.json): ranges cut
 * out by `tidemark repair` (their bytes kept under quarantine/) or absent from a source that was
 * imported. Reads step over them instead of failing with CORRUPT; the seqs are never handed out
 * again. A lost range always lies between segments: the segment after it starts past its end,
 * so no segment file holds a gap (§4 needs contiguous seqs inside a segment).
 *
 * Ranges are inclusive `[first, last]`, sorted, disjoint and not adjacent (adjacent ones merge).
 */
import { CorruptError, InvalidArgumentError } from "../../errors.js";

export type LostRange = readonly [first: number, last: number];

/** At most this many ranges per stream; a source more broken than that is renumbered instead. */
export const LOST_RANGES_MAX = 1024;

/** Checks ranges read from stream.json; throws CorruptError naming the problem. */
export function parseLostRanges(raw: unknown, where: string): LostRange[] {
  if (!Array.isArray(raw) || raw.length > LOST_RANGES_MAX) {
    throw new CorruptError(`${where} holds an invalid list of lost seqs`, { path: where });
  }
  const ranges: LostRange[] = [];
  for (const item of raw) {
    if (
      !Array.isArray(item) ||
      item.length !== 2 ||
      !Number.isSafeInteger(item[0]) ||
      !Number.isSafeInteger(item[1]) ||
      item[0] < 1 ||
      item[1] < item[0] ||
      (ranges.length > 0 && item[0] <= ranges[ranges.length - 1]![1] + 1)
    ) {
      throw new CorruptError(`${where} holds an invalid lost seq range`, { path: where });
    }
    ranges.push([item[0] as number, item[1] as number]);
  }
  return ranges;
}

/** `ranges` with `added` merged in (sorted, disjoint, adjacent ranges joined). */
export function mergeLostRanges(
  ranges: readonly LostRange[],
  added: readonly LostRange[],
): LostRange[] {
  const all = [...ranges, ...added].sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const [first, last] of all) {
    const previous = merged[merged.length - 1];
    if (previous !== undefined && first <= previous[1] + 1) {
      previous[1] = Math.max(previous[1], last);
    } else {
      merged.push([first, last]);
    }
  }
  if (merged.length > LOST_RANGES_MAX) {
    throw new InvalidArgumentError(
      `a stream can record at most ${LOST_RANGES_MAX} ranges of lost seqs; this would make ${merged.length}`,
    );
  }
  return merged;
}

/** The range holding `seq`, or undefined. */
export function lostRangeAt(ranges: readonly LostRange[], seq: number): LostRange | undefined {
  const i = firstEndingAtOrAfter(ranges, seq);
  const range = ranges[i];
  return range !== undefined && range[0] <= seq ? range : undefined;
}

/** The first seq at or after `seq` that is lost, or Infinity. */
export function nextLostSeq(ranges: readonly LostRange[], seq: number): number {
  const range = ranges[firstEndingAtOrAfter(ranges, seq)];
  if (range === undefined) return Number.POSITIVE_INFINITY;
  return Math.max(range[0], seq);
}

/** How many seqs of `from..to` are lost. */
export function lostCount(ranges: readonly LostRange[], from: number, to: number): number {
  let count = 0;
  for (let i = firstEndingAtOrAfter(ranges, from); i < ranges.length; i++) {
    const [first, last] = ranges[i]!;
    if (first > to) break;
    count += Math.min(last, to) - Math.max(first, from) + 1;
  }
  return count;
}

/** Index of the first range whose last seq is ≥ seq (binary search). */
function firstEndingAtOrAfter(ranges: readonly LostRange[], seq: number): number {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ranges[mid]![1] < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
