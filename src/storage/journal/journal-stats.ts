/**
 * Counters a journal keeps while it runs (since it was opened), and the shape of `stats()`.
 */
import type { JournalAccounting } from "../retention/journal-limits.js";
import type { ReleaseReason } from "../retention/retention.js";
import type { StreamState } from "../stream/stream-state.js";

export interface ReleasedCounts {
  segments: number;
  records: number;
  bytes: number;
}

export interface JournalStats {
  streams: number;
  /** Bytes on disk across all streams. */
  bytes: number;
  records: number;
  /** Timestamp of the oldest record held by any stream, or null. */
  oldestTimestamp: number | null;
  /** Timestamp of the newest record, or null. */
  newestTimestamp: number | null;
  /** Released to stay within a stream's bytesMax/recordsMax or the journal's bytesMax. */
  evictions: ReleasedCounts;
  /** Released by a stream's ageMsMax. */
  expiries: ReleasedCounts;
  /** Released because every consumer acknowledged it (retention 'acked'). */
  acknowledged: ReleasedCounts;
  /** Released by `trim`. */
  trimmed: ReleasedCounts;
  /** Streams deleted by `deleteStream`, and by the idle sweeper. */
  streamsDeleted: number;
  streamsSwept: number;
  /** Appends refused, by error code. */
  rejected: { STREAM_FULL: number; JOURNAL_FULL: number; DISK_FULL: number };
  /** fdatasync calls that made appends durable, since the journal was opened. */
  syncs: number;
  /** Free bytes on the journal's file system at the last check, or null if unknown. */
  diskFreeBytes: number | null;
}

const zero = (): ReleasedCounts => ({ segments: 0, records: 0, bytes: 0 });

export class JournalCounters {
  readonly evictions = zero();
  readonly expiries = zero();
  readonly acknowledged = zero();
  readonly trimmed = zero();
  streamsDeleted = 0;
  streamsSwept = 0;
  syncs = 0;
  readonly rejected = { STREAM_FULL: 0, JOURNAL_FULL: 0, DISK_FULL: 0 };

  released(reason: ReleaseReason, records: number, bytes: number): void {
    const counts =
      reason === "age"
        ? this.expiries
        : reason === "acked"
          ? this.acknowledged
          : reason === "trim"
            ? this.trimmed
            : this.evictions;
    counts.segments++;
    counts.records += records;
    counts.bytes += bytes;
  }

  /** Records a trim released inside a segment that stays (its bytes go when the segment does). */
  trimmedWithinSegment(records: number): void {
    this.trimmed.records += records;
  }

  rejectedWith(code: string): void {
    if (code === "STREAM_FULL" || code === "JOURNAL_FULL" || code === "DISK_FULL")
      this.rejected[code]++;
  }
}

/** `stats()`: totals over `streams` (the oldest record's time read from the sparse indexes). */
export async function collectStats(
  streams: Iterable<{
    state: StreamState;
    writer: { firstRecordTimestamp(): Promise<number> } | undefined;
  }>,
  counters: JournalCounters,
  accounting: JournalAccounting,
): Promise<JournalStats> {
  let count = 0;
  let bytes = 0;
  let records = 0;
  let oldest: number | null = null;
  let newest: number | null = null;
  for (const { state, writer } of streams) {
    count++;
    bytes += state.segments.totalBytes();
    records += state.records;
    if (state.records === 0) continue;
    newest = Math.max(newest ?? 0, state.tail.lastTimestampMs);
    const first = writer === undefined ? undefined : await writer.firstRecordTimestamp();
    if (first !== undefined) oldest = Math.min(oldest ?? first, first);
  }
  return {
    streams: count,
    bytes,
    records,
    oldestTimestamp: oldest,
    newestTimestamp: newest,
    evictions: { ...counters.evictions },
    expiries: { ...counters.expiries },
    acknowledged: { ...counters.acknowledged },
    trimmed: { ...counters.trimmed },
    streamsDeleted: counters.streamsDeleted,
    streamsSwept: counters.streamsSwept,
    rejected: { ...counters.rejected },
    syncs: counters.syncs,
    diskFreeBytes: accounting.diskFreeBytes ?? null,
  };
}
