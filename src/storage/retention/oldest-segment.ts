/**
 * The oldest segment of a stream, which retention, trim and journal-wide eviction release, one
 * whole segment at a time: when its first record was written (from the sparse index, never by
 * scanning payloads), and deleting it.
 *
 * A delete removes the index first, then the segment. A crash between the two leaves a segment
 * without an index, which is rebuilt; a crash after leaves nothing behind. Nothing below the
 * new first segment was readable as part of the stream once the delete began.
 */
import { join } from "node:path";
import { assert } from "../../assert.js";
import { fromSystemError, isErrnoCode } from "../../errors.js";
import { indexFileName, segmentFileName } from "../../format/segment-name.js";
import type { FileSystem } from "../fs/file-system.js";
import type { IndexCache } from "../index/index-cache.js";
import type { StreamState } from "../stream/stream-state.js";
import type { ReleaseReason } from "./retention.js";

export interface SegmentReleaseHost {
  fs: FileSystem;
  indexCache: IndexCache;
  /** Told that bytes on disk changed outside a commit. */
  accounting: { onDiskBytes(delta: number): void };
  /** Told what was released, and why. */
  counters: { released(reason: ReleaseReason, records: number, bytes: number): void };
}

/** Timestamp of the first record of segment `baseSeq` (undefined if it holds none). */
export async function firstTimestampOf(
  indexCache: IndexCache,
  state: StreamState,
  baseSeq: number,
): Promise<number | undefined> {
  const index =
    baseSeq === state.segments.active.baseSeq
      ? state.activeIndex
      : await indexCache.get(state.dir, baseSeq);
  await index.ready();
  return index.first()?.timestampMs;
}

/** Deletes the oldest (sealed) segment and its index; resolves with the bytes released. */
export async function dropOldestSegment(
  host: SegmentReleaseHost,
  state: StreamState,
  reason: ReleaseReason,
): Promise<number> {
  const { segments } = state;
  assert(segments.count > 1, "the active segment is never deleted");
  const first = segments.first;
  // Records below a stored trim point were counted as trimmed when the point was stored.
  const nextBase = segments.at(1)!.baseSeq;
  const records = Math.max(0, nextBase - Math.max(first.baseSeq, state.trimmedBefore));
  for (const file of [indexFileName(first.baseSeq), segmentFileName(first.baseSeq)]) {
    try {
      await host.fs.unlink(join(state.dir, file));
    } catch (err) {
      if (!isErrnoCode(err, "ENOENT"))
        throw fromSystemError(err, `remove ${file}`, { stream: state.name });
    }
  }
  segments.shift();
  host.indexCache.forget(state.dir, first.baseSeq);
  host.accounting.onDiskBytes(-first.bytes);
  host.counters.released(reason, records, first.bytes);
  state.notify(); // followers behind the new first seq learn they were overtaken
  return first.bytes;
}
