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
import { checkKnownKeys } from "../../options-check.js";
import type { FileSystem } from "../fs/file-system.js";
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from "../fs/node-file-system.js";
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
  /**
   * Permission bits of the files the journal creates. Default 0o600: only the owner reads
   * them. 0o640 (with `dirMode` 0o750) lets the directory's group read the journal, e.g. to run
   * `tidemark ls` as another user of that group. The process umask still applies.
   */
  fileMode?: number;
  /** Permission bits of the directories the journal creates. Default 0o700. */
  dirMode?: number;
  /** @internal This boot of the machine (tests of power loss pass one per simulated boot). */
  bootId?: string;
}

const JOURNAL_OPTION_KEYS = [
  "durability",
  "syncIntervalMs",
  "segmentBytesMax",
  "recordBytesMax",
  "readOnly",
  "onRecovery",
  "limits",
  "logger",
  "fs",
  "clock",
  "pollIntervalMs",
  "logFileBytesMax",
  "fileMode",
  "dirMode",
  "bootId",
] as const satisfies readonly (keyof JournalOptions)[];

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
  fileMode: number;
  dirMode: number;
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
const LOG_FILE_BYTES_MAX_DEFAULT = 16 * 1024 * 1024;
const SYNC_INTERVAL_MS_MAX = 60_000;

export function resolveOptions(options: JournalOptions = {}): ResolvedOptions {
  checkKnownKeys(options, JOURNAL_OPTION_KEYS, "Journal.open options");
  checkKind("readOnly", options.readOnly, "boolean");
  checkKind("onRecovery", options.onRecovery, "function");
  checkKind("clock", options.clock, "function");
  checkKind("bootId", options.bootId, "string");
  checkKind("fs", options.fs, "object");
  if (
    options.logger !== undefined &&
    (typeof options.logger !== "object" ||
      options.logger === null ||
      typeof options.logger.warn !== "function")
  ) {
    throw new InvalidArgumentError("logger must be a Logger (pino fits)", { option: "logger" });
  }
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
    fileMode: mode("fileMode", options.fileMode ?? PRIVATE_FILE_MODE, PRIVATE_FILE_MODE, 0o640),
    dirMode: mode("dirMode", options.dirMode ?? PRIVATE_DIR_MODE, PRIVATE_DIR_MODE, 0o750),
  };
}

function checkKind(
  name: string,
  value: unknown,
  kind: "boolean" | "function" | "string" | "object",
) {
  if (value === undefined) return;
  if (typeof value !== kind || value === null) {
    throw new InvalidArgumentError(
      `${name} must be a ${kind}, got ${value === null ? "null" : typeof value}`,
      {
        option: name,
      },
    );
  }
}

/**
 * Permission bits: the owner keeps what the journal needs (`ownerBits`), and nobody else may
 * write (a journal other users can change is not one its writer can vouch for).
 */
function mode(name: string, value: unknown, ownerBits: number, example: number): number {
  if (
    typeof value !== "number" ||
    !Number.isInteger(value) ||
    value < 0 ||
    value > 0o777 ||
    (value & ownerBits) !== ownerBits ||
    (value & 0o002) !== 0
  ) {
    throw new InvalidArgumentError(
      `${name} must be permission bits (such as 0o${example.toString(8)}) that keep ` +
        `0o${ownerBits.toString(8)} for the owner and let no other user write, got ` +
        (typeof value === "number" ? `0o${value.toString(8)}` : JSON.stringify(value)),
      { option: name },
    );
  }
  return value;
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
