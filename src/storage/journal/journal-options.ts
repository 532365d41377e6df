/**
 * Journal options, their defaults and their limits. Every option is validated at open with an
 * error that names it; nothing is clamped silently.
 */
import { InvalidArgumentError } from "../../errors.js";
import {
  RECORD_BODY_BYTES_LIMIT,
  RECORD_HEADER_BYTES,
  SEGMENT_BYTES_LIMIT,
  SEGMENT_HEADER_BYTES,
} from "../../format/constants.js";
import type { Logger } from "../../logger.js";
import type { FileSystem } from "../fs/file-system.js";
import type { RecoveryReporter } from "../recovery/recovery-event.js";
import type { JournalLimits } from "../retention/journal-limits.js";

export type Durability = "always" | "batch" | "none";

export interface JournalOptions {
  /**
   * 'always' (default): an append resolves after an fdatasync that covers it.
   * 'batch': appends resolve once written; a sync runs at most every `syncIntervalMs`.
   * 'none': the OS decides when to write back; a power loss can lose recent appends.
   */
  durability?: Durability;
  /** For 'batch': the longest time an acknowledged append may wait for its sync. */
  syncIntervalMs?: number;
  /** Rotate to a new segment before one would grow past this. */
  segmentBytesMax?: number;
  /** Largest payload (plus attributes) of one record. */
  recordBytesMax?: number;
  /** Open without the writer lock, to read and follow a journal another process writes. */
  readOnly?: boolean;
  /** Called for every repair and every piece of damage found while opening. */
  onRecovery?: RecoveryReporter;
  /** Journal-wide limits: total bytes, free disk space, idle streams (see JournalLimits). */
  limits?: JournalLimits;
  /** Where the journal logs what it does on its own (idle streams deleted…). pino fits. */
  logger?: Logger;
  /** @internal The file system (tests pass a simulated disk). */
  fs?: FileSystem;
  /** @internal Milliseconds since the epoch (tests pass a controllable clock). */
  clock?: () => number;
  /** How often a read-only journal checks for new data when file events are missed. */
  pollIntervalMs?: number;
  /** @internal A new commit log file (and a checkpoint) once the active one passes this. */
  logFileBytesMax?: number;
}

export interface ResolvedOptions {
  durability: Durability;
  syncIntervalMs: number;
  segmentBytesMax: number;
  recordBytesMax: number;
  readOnly: boolean;
  pollIntervalMs: number;
  /** Largest bytes of one group-commit write. */
  commitBytesMax: number;
  /** Encoded bytes a stream holds waiting for their commit; past it appends wait unencoded. */
  queueBytesMax: number;
  /** A stream's checkpoint is rewritten after this much new data. */
  checkpointBytes: number;
  /** All streams' unchecked bytes together never exceed this for long: bounds recovery work. */
  recoveryScanBytesMax: number;
  /** A stream with unchecked data and no append for this long gets a checkpoint. */
  checkpointQuietMs: number;
  /** Bytes read from a segment at a time. */
  readChunkBytes: number;
  /** Streams opened at once while the journal opens. */
  openConcurrency: number;
  /** A new commit log file (and a checkpoint) once the active one passes this (§14.4). */
  logFileBytesMax: number;
}

export const DEFAULTS = {
  durability: "always",
  syncIntervalMs: 100,
  segmentBytesMax: 64 * 1024 * 1024,
  recordBytesMax: 16 * 1024 * 1024,
  pollIntervalMs: 100,
} as const;

const SEGMENT_BYTES_MIN = 4096;
/** Recovery reads at most about twice this of the log (docs/format.md §14.4). */
const LOG_FILE_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
const SYNC_INTERVAL_MS_MAX = 60_000;

export function resolveOptions(options: JournalOptions = {}): ResolvedOptions {
  const durability = options.durability ?? DEFAULTS.durability;
  if (durability !== "always" && durability !== "batch" && durability !== "none") {
    throw new InvalidArgumentError(
      `durability must be 'always', 'batch' or 'none', got ${JSON.stringify(durability)}`,
    );
  }
  const syncIntervalMs = integer(
    "syncIntervalMs",
    options.syncIntervalMs ?? DEFAULTS.syncIntervalMs,
    1,
    SYNC_INTERVAL_MS_MAX,
  );
  const segmentBytesMax = integer(
    "segmentBytesMax",
    options.segmentBytesMax ?? DEFAULTS.segmentBytesMax,
    SEGMENT_BYTES_MIN,
    SEGMENT_BYTES_LIMIT,
  );
  const recordRoom = Math.min(
    segmentBytesMax - SEGMENT_HEADER_BYTES - RECORD_HEADER_BYTES,
    RECORD_BODY_BYTES_LIMIT,
  );
  const recordBytesMax = integer(
    "recordBytesMax",
    options.recordBytesMax ?? Math.min(DEFAULTS.recordBytesMax, recordRoom),
    1,
    recordRoom,
  );
  const pollIntervalMs = integer(
    "pollIntervalMs",
    options.pollIntervalMs ?? DEFAULTS.pollIntervalMs,
    1,
    SYNC_INTERVAL_MS_MAX,
  );
  return {
    durability,
    syncIntervalMs,
    segmentBytesMax,
    recordBytesMax,
    readOnly: options.readOnly === true,
    pollIntervalMs,
    commitBytesMax: Math.min(4 * 1024 * 1024, segmentBytesMax - SEGMENT_HEADER_BYTES),
    queueBytesMax: 32 * 1024 * 1024,
    checkpointBytes: 1024 * 1024,
    recoveryScanBytesMax: 32 * 1024 * 1024,
    checkpointQuietMs: 1000,
    readChunkBytes: 1024 * 1024,
    openConcurrency: 64,
    logFileBytesMax: integer(
      "logFileBytesMax",
      options.logFileBytesMax ?? LOG_FILE_BYTES_MAX_DEFAULT,
      64 * 1024,
      SEGMENT_BYTES_LIMIT,
    ),
  };
}

function integer(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(
      `${name} must be an integer from ${min} to ${max}, got ${String(value)}`,
      { option: name },
    );
  }
  return value;
}
