/**
 * Writing a stream's checkpoint (docs/format.md §7): a hint, checked on open, that names a point
 * up to which the active segment is known good, so recovery scans only what follows. It is
 * overwritten in place with one 56-byte write and never flushed: a torn or lost checkpoint only
 * means a longer scan. It only ever names a durable point (synced, under 'always' and 'batch').
 */
import { join } from "node:path";
import { encodeCheckpoint } from "../../format/checkpoint.js";
import { openOrCreate, writeFully } from "../fs/file-ops.js";
import type { FileHandle, FileSystem } from "../fs/file-system.js";
import type { TailState } from "../recovery/tail-scan.js";
import { CHECKPOINT_FILE } from "../stream/stream-files.js";

/** A position whose bytes are known durable (or merely written, under 'none'). */
export interface DurablePoint {
  baseSeq: number;
  end: number;
  tail: TailState;
  /** The writer's running total of committed bytes when this point was taken. */
  total: number;
}

export class Checkpointer {
  private file: FileHandle | undefined;
  private writing: Promise<void> | undefined;
  private written = { baseSeq: -1, end: -1 };
  /** `total` of the last point written. */
  coveredTotal = 0;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    /** Told how many more committed bytes a new checkpoint covers (the journal-wide budget). */
    private readonly onCovered: (bytes: number) => void,
  ) {}

  /** Writes a checkpoint of `point()` unless one is being written or it is already written. */
  write(point: () => DurablePoint): Promise<void> {
    this.writing ??= this.writeNow(point()).finally(() => {
      this.writing = undefined;
    });
    return this.writing;
  }

  async close(point: DurablePoint): Promise<void> {
    while (this.writing !== undefined) await this.writing;
    await this.writeNow(point);
    const file = this.file;
    this.file = undefined;
    await file?.close();
  }

  private async writeNow(point: DurablePoint): Promise<void> {
    if (point.baseSeq === this.written.baseSeq && point.end === this.written.end) return;
    const bytes = encodeCheckpoint({
      segmentBaseSeq: point.baseSeq,
      lastRecordOffset: point.tail.lastRecordOffset,
      endOffset: point.end,
      lastSeq: point.tail.lastSeq,
      lastTimestampMs: point.tail.lastTimestampMs,
      lastRecordCrc: point.tail.lastRecordCrc,
    });
    try {
      this.file ??= await openOrCreate(this.fs, join(this.dir, CHECKPOINT_FILE));
      await writeFully(this.file, bytes, 0);
    } catch {
      // Only costs a longer scan at the next open; the next trigger tries again.
      const file = this.file;
      this.file = undefined;
      await file?.close().catch(() => undefined);
      return;
    }
    const covered = point.total - this.coveredTotal;
    this.coveredTotal = point.total;
    this.written = { baseSeq: point.baseSeq, end: point.end };
    if (covered > 0) this.onCovered(covered);
  }
}
