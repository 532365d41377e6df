/**
 * What a stream may release next, oldest segment first (retention is by whole segments, so it
 * never rewrites a file and never leaves a gap). Reasons, in the order they are checked:
 *
 * - trim:    `trim({ before })` raised the floor past the segment's last record;
 * - acked:   retention 'acked' and every consumer acknowledged the segment's last record;
 * - age:     the segment's newest record is older than `ageMsMax` (timestamps never decrease, so
 *            the next segment's first timestamp bounds it; no payload is read);
 * - bytes, records: discard 'old', and the rest of the stream still meets the limit without the
 *            segment (so the stream holds at least its budget, and at most a segment more).
 *
 * For trim, acked and age the active segment can go too: the writer seals it first, so a stream
 * whose records have all expired ends up empty (firstSeq = lastSeq + 1). Limits never seal the
 * active segment: with segments an eighth of the limit, the rest of the stream is enough.
 */
import type { StreamState } from "../stream/stream-state.js";

/** Why data was released; "journal" is the journal-wide `bytesMax` with discard 'old'. */
export type ReleaseReason = "trim" | "acked" | "age" | "bytes" | "records" | "journal";

export interface Release {
  reason: ReleaseReason;
  /** The oldest segment is the active one: seal it before deleting it. */
  sealFirst: boolean;
}

/** First record timestamp of a segment (from its index), or undefined if it holds none. */
export type FirstTimestamp = (baseSeq: number) => Promise<number | undefined>;

export async function nextRelease(
  state: StreamState,
  nowMs: number,
  firstTimestamp: FirstTimestamp,
): Promise<Release | undefined> {
  const { segments, limits } = state;
  const first = segments.first;
  const second = segments.at(1);
  const sealFirst = second === undefined;
  const lastOfFirst = second === undefined ? state.lastSeq : second.baseSeq - 1;
  if (lastOfFirst < first.baseSeq) return undefined; // an empty active segment: nothing to release

  if (state.trimmedBefore > lastOfFirst) return { reason: "trim", sealFirst };
  const acked = state.retention === "acked" ? state.ackedMin() : undefined;
  if (acked !== undefined && acked >= lastOfFirst) return { reason: "acked", sealFirst };
  if (Number.isFinite(limits.ageMsMax)) {
    const cutoff = nowMs - limits.ageMsMax;
    const newest =
      second === undefined ? state.tail.lastTimestampMs : await firstTimestamp(second.baseSeq);
    if (newest !== undefined && newest < cutoff) return { reason: "age", sealFirst };
  }
  if (sealFirst || limits.discard !== "old") return undefined;
  // Release the oldest segment only if what remains still meets the limit: the stream keeps at
  // least its budget and is over it by at most one segment.
  if (segments.totalBytes() - first.bytes >= limits.bytesMax) return { reason: "bytes", sealFirst };
  if (state.lastSeq - Math.max(state.firstSeq, lastOfFirst + 1) + 1 >= limits.recordsMax) {
    return { reason: "records", sealFirst };
  }
  return undefined;
}
