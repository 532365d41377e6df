/**
 * What a stream's writer does to release data (docs/format.md §12): trim, what retention allows
 * (limits, age, acknowledged data), journal-wide eviction, and the limit checks that decide it.
 * Every operation here runs inside the writer's loop, between commits, so it never races an
 * append; each releases whole segments, oldest first, and seals the active one first when it
 * must go too.
 */
import { InvalidArgumentError } from "../../errors.js";
import { dropOldestSegment, firstTimestampOf } from "../retention/oldest-segment.js";
import { nextRelease, type ReleaseReason } from "../retention/retention.js";
import { type DescriptorChange, storeDescriptorChange } from "../stream/stream-descriptor.js";
import type { StreamState } from "../stream/stream-state.js";
import type { ActiveSegment } from "./active-segment.js";
import type { WriterHost } from "./writer-host.js";

export class SegmentRelease {
  private firstTimestampCache: { baseSeq: number; ms: number } | undefined;

  constructor(
    private readonly host: WriterHost,
    private readonly state: StreamState,
    private readonly segment: ActiveSegment,
  ) {}

  /** Releases records with seq < before; the floor is stored before any file is removed. */
  async trim(before: number): Promise<void> {
    const { state } = this;
    const limit = state.lastSeq + 1;
    if (!Number.isSafeInteger(before) || before < 1 || before > limit) {
      throw new InvalidArgumentError(
        `trim: before must be an integer from 1 to ${limit}, got ${String(before)}`,
        { stream: state.name },
      );
    }
    if (before <= state.trimmedBefore) return;
    // Whole segments below the point go first: removing needs no space (a full disk is when
    // trim is wanted most), and a crash part way leaves firstSeq between the old point and the
    // new, with nothing below it readable and nothing above it lost.
    const { segments } = state;
    while (segments.count > 1 && segments.at(1)!.baseSeq <= before) await this.dropOldest("trim");
    if (segments.count === 1 && before > state.lastSeq && state.lastSeq >= segments.first.baseSeq) {
      await this.segment.rotate();
      await this.dropOldest("trim");
    }
    // A trim the caller was told is done must not come undone in a power loss.
    if (this.host.options.durability !== "none") await this.host.fs.syncDir(state.dir);
    if (before <= segments.first.baseSeq) return;
    // The point falls inside the first segment left: store it, so records below stay released.
    const hidden = before - Math.max(segments.first.baseSeq, state.trimmedBefore);
    await this.storeDescriptor({ trimmedBefore: before }, "store the trim point");
    this.host.counters.trimmedWithinSegment(hidden);
  }

  /** Releases whatever retention allows, oldest segment first (see retention.ts). */
  async release(): Promise<void> {
    for (;;) {
      const next = await nextRelease(this.state, this.host.clock(), (baseSeq) =>
        this.firstTimestamp(baseSeq),
      );
      if (next === undefined) return;
      if (next.sealFirst) await this.segment.rotate();
      await this.dropOldest(next.reason);
    }
  }

  /** The journal's own `bytesMax` (discard 'old'): the oldest segment goes; its bytes. */
  async evictOldest(): Promise<number> {
    const { state } = this;
    if (state.lastSeq < state.segments.first.baseSeq) return 0;
    if (state.segments.count === 1) await this.segment.rotate();
    return this.dropOldest("journal");
  }

  /** A cheap check after each commit; age is left to the timer (it may need an index read). */
  overLimits(): boolean {
    const { state } = this;
    if (state.segments.count < 2) return false;
    const acked = state.retention === "acked" ? state.ackedMin() : undefined;
    if (acked !== undefined && acked >= state.segments.at(1)!.baseSeq - 1) return true;
    if (state.limits.discard !== "old") return false;
    const afterFirst = state.lastSeq - state.segments.at(1)!.baseSeq + 1;
    return (
      state.segments.totalBytes() - state.segments.first.bytes >= state.limits.bytesMax ||
      afterFirst >= state.limits.recordsMax
    );
  }

  /** Timestamp of the oldest record held (journal-wide eviction picks the oldest stream). */
  async firstRecordTimestamp(): Promise<number> {
    const first = this.state.segments.first;
    if (this.firstTimestampCache?.baseSeq === first.baseSeq) return this.firstTimestampCache.ms;
    const ms = (await this.firstTimestamp(first.baseSeq)) ?? this.state.tail.lastTimestampMs;
    this.firstTimestampCache = { baseSeq: first.baseSeq, ms };
    return ms;
  }

  /** Changes fields of stream.json (stored atomically; memory follows only on success). */
  storeDescriptor(change: DescriptorChange, action: string): Promise<void> {
    const durable = this.host.options.durability !== "none";
    return storeDescriptorChange(this.host.fs, this.state, change, durable, action);
  }

  private firstTimestamp(baseSeq: number): Promise<number | undefined> {
    return firstTimestampOf(this.host.indexCache, this.state, baseSeq);
  }

  private dropOldest(reason: ReleaseReason): Promise<number> {
    return dropOldestSegment(this.host, this.state, reason);
  }
}
