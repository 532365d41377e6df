/**
 * tidemark's public API. Everything not exported here is internal and may change.
 */

export {
  BatchTooLargeError,
  ClosedError,
  CorruptError,
  CursorExpiredError,
  DiskFullError,
  type ErrorCode,
  type ErrorContext,
  InvalidArgumentError,
  InvalidNameError,
  IoError,
  JournalLockedError,
  NotAJournalError,
  NotFoundError,
  ReadOnlyError,
  RecordTooLargeError,
  TidemarkError,
  UnsupportedFormatError,
} from "./errors.js";
export type { Payload } from "./format/record.js";
export type { FileHandle, FileStat, FileSystem, OpenMode } from "./storage/file-system.js";
export { Journal } from "./storage/journal.js";
export type { Durability, JournalOptions } from "./storage/journal-options.js";
export type { RecoveryEvent, RecoveryEventKind } from "./storage/recovery-event.js";
export type {
  AppendOptions,
  AppendResult,
  FollowOptions,
  JournalRecord,
  ReadOptions,
  StreamInfo,
} from "./storage/stream.js";
export { Stream } from "./storage/stream.js";
