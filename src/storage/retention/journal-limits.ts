/**
 * Journal-wide limits: total bytes across all streams, free disk space, idle streams.
 *
 * Bytes are counted exactly: what is on disk plus what appends in flight have reserved. An append
 * reserves its bytes synchronously when it is made (JavaScript runs one append at a time), so 50
 * streams appending at once cannot all pass a check that only one of them fits: there is no
 * check-then-write race. With discard 'old', the journal instead evicts the oldest segments
 * journal-wide after the write; while eviction catches up the total may pass `bytesMax` by an
 * eighth of it at most: appends beyond that wait for room (in order, per stream) rather than fail.
 *
 * Free space is read with statfs (never a child process) on a timer, and after every
 * `diskCheckBytes` written, not per append; below `diskFreeBytesMin` appends fail with DISK_FULL
 * and succeed again by themselves once a check sees the space back.
 */
import { DiskFullError, InvalidArgumentError, JournalFullError } from "../../errors.js";
import { SEGMENT_HEADER_BYTES } from "../../format/constants.js";
import { checkKnownKeys } from "../../options-check.js";
import type { Discard } from "./stream-limits.js";

export interface JournalLimits {
  /** Bytes on disk across all streams. Default: no limit. */
  bytesMax?: number;
  /** 'old' (default): evict the oldest segments journal-wide. 'new': fail with JOURNAL_FULL. */
  discard?: Discard;
  /** Appends fail with DISK_FULL while the file system has less free. Default 64 MiB. */
  diskFreeBytesMin?: number;
  /** How often free space is checked. Default 1000 ms. */
  diskCheckIntervalMs?: number;
  /** Streams neither appended to nor read for longer are deleted. Default: never. */
  streamIdleMsMax?: number;
}

export interface ResolvedJournalLimits {
  bytesMax: number;
  discard: Discard;
  diskFreeBytesMin: number;
  diskCheckIntervalMs: number;
  streamIdleMsMax: number;
}

export const DISK_FREE_BYTES_MIN_DEFAULT = 64 * 1024 * 1024;
/** Free space is checked again after this much has been written, whatever the timer says. */
export const DISK_CHECK_BYTES = 64 * 1024 * 1024;

const JOURNAL_LIMIT_KEYS = [
  "bytesMax",
  "discard",
  "diskFreeBytesMin",
  "diskCheckIntervalMs",
  "streamIdleMsMax",
] as const satisfies readonly (keyof JournalLimits)[];

export function resolveJournalLimits(
  input: unknown,
  /** Where the limits were given, for messages (`journalLimits` in the server's config). */
  path = "limits",
): ResolvedJournalLimits {
  const limits = checkKnownKeys(input, JOURNAL_LIMIT_KEYS, path);
  const discard = limits["discard"] ?? "old";
  if (discard !== "old" && discard !== "new") {
    throw new InvalidArgumentError(
      `${path}.discard must be 'old' or 'new', got ${JSON.stringify(discard)}`,
      { option: `${path}.discard` },
    );
  }
  const integer = (name: string, min: number, fallback: number): number => {
    const value = limits[name];
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
      throw new InvalidArgumentError(
        `${path}.${name} must be an integer of at least ${min}, got ${JSON.stringify(value)}`,
        { limit: name, option: `${path}.${name}` },
      );
    }
    return value;
  };
  return {
    bytesMax: integer("bytesMax", 4096, Number.POSITIVE_INFINITY),
    discard,
    diskFreeBytesMin: integer("diskFreeBytesMin", 0, DISK_FREE_BYTES_MIN_DEFAULT),
    diskCheckIntervalMs: integer("diskCheckIntervalMs", 10, 1000),
    streamIdleMsMax: integer("streamIdleMsMax", 1, Number.POSITIVE_INFINITY),
  };
}

export class JournalAccounting {
  /** Bytes of all segment files. */
  usedBytes = 0;
  /** Bytes of appends accepted but not yet written (or failed). */
  reservedBytes = 0;
  /** Free bytes at the last check; undefined until the first one. */
  diskFreeBytes: number | undefined;
  private writtenSinceCheck = 0;
  private roomWaiters: Array<{ bytes: number; resolve: () => void }> = [];
  private nothingToEvict = false;
  private logBacklog = false;

  constructor(
    readonly limits: ResolvedJournalLimits,
    /** Asks for a free-space check (after enough writing). */
    private readonly requestDiskCheck: () => void,
  ) {}

  admit(bytes: number): void {
    const { limits } = this;
    if (this.diskFreeBytes !== undefined && this.diskFreeBytes < limits.diskFreeBytesMin) {
      throw new DiskFullError(
        `the disk has ${this.diskFreeBytes} bytes free, less than diskFreeBytesMin ` +
          `(${limits.diskFreeBytesMin}); appends resume by themselves when space is freed`,
        { bytes },
      );
    }
    if (
      limits.discard === "new" &&
      this.usedBytes + this.reservedBytes + bytes + SEGMENT_HEADER_BYTES > limits.bytesMax
    ) {
      throw new JournalFullError(
        `the journal is full (bytesMax ${limits.bytesMax}, discard 'new'); the append was not made. ` +
          "Delete or trim streams, or raise the limit",
        { bytes },
      );
    }
    this.reservedBytes += bytes;
  }

  settle(bytes: number, committed: boolean): void {
    this.reservedBytes -= bytes;
    if (!committed) return;
    this.usedBytes += bytes;
    this.writtenSinceCheck += bytes;
    if (this.writtenSinceCheck >= DISK_CHECK_BYTES) {
      this.writtenSinceCheck = 0;
      this.requestDiskCheck();
    }
  }

  onDiskBytes(delta: number): void {
    this.usedBytes += delta;
    if (delta < 0) this.wakeRoomWaiters();
  }

  /**
   * Discard 'old': may an append of `bytes` go ahead now? Beyond `bytesMax` plus an eighth of it
   * (while eviction catches up) appends wait for room instead; they never fail for it.
   */
  hasRoom(bytes: number): boolean {
    if (this.logBacklog) return false;
    if (
      this.limits.discard !== "old" ||
      !Number.isFinite(this.limits.bytesMax) ||
      this.nothingToEvict
    )
      return true;
    return this.usedBytes + this.reservedBytes + bytes <= this.limits.bytesMax + this.slackBytes();
  }

  waitForRoom(bytes: number): Promise<void> {
    return new Promise((resolve) => {
      this.roomWaiters.push({ bytes, resolve });
      this.wakeRoomWaiters();
    });
  }

  /**
   * The commit log's checkpoints fell behind (log-keeper.ts): new appends wait, so what a
   * recovery must redo stays bounded; those already admitted go on, which checkpoints need.
   */
  setLogBacklog(value: boolean): void {
    this.logBacklog = value;
    if (!value) this.wakeRoomWaiters();
  }

  /** Eviction found nothing more to release: let waiting appends through rather than hang. */
  setNothingToEvict(value: boolean): void {
    this.nothingToEvict = value;
    if (value) this.wakeRoomWaiters();
  }

  slackBytes(): number {
    return Math.floor(this.limits.bytesMax / 8);
  }

  private wakeRoomWaiters(): void {
    while (this.roomWaiters.length > 0 && this.hasRoom(this.roomWaiters[0]!.bytes)) {
      this.roomWaiters.shift()!.resolve();
    }
  }

  /** Bytes to evict to get back under `bytesMax` (discard 'old'); 0 when under. */
  excessBytes(): number {
    if (this.limits.discard !== "old") return 0;
    return Math.max(0, this.usedBytes - this.limits.bytesMax);
  }
}
