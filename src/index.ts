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
  JournalFullError,
  JournalLockedError,
  NotAJournalError,
  NotFoundError,
  OutboxFullError,
  ReadOnlyError,
  RecordTooLargeError,
  StreamFullError,
  TidemarkError,
  UnsupportedFormatError,
} from "./errors.js";
export type { Payload } from "./format/record.js";
export type { BackoffOptions } from "./outbox/backoff.js";
export {
  DurableStreamsUpstream,
  type DurableStreamsUpstreamOptions,
} from "./outbox/durable-streams-upstream.js";
export type { OutboxEntryInput, Precondition } from "./outbox/entry.js";
export { HttpUpstream, type HttpUpstreamOptions } from "./outbox/http-upstream.js";
export { Mirror, type MirrorOptions, type MirrorStats } from "./outbox/mirror.js";
export {
  Outbox,
  type OutboxEntryInfo,
  type OutboxOptions,
  type OutboxStats,
  type RetryOptions,
} from "./outbox/outbox.js";
export type { Delivery, Outcome, Upstream, UpstreamAnswer } from "./outbox/upstream.js";
export { Consumer } from "./storage/consumer.js";
export type { FileHandle, FileStat, FileSystem, OpenMode } from "./storage/file-system.js";
export { Journal, type StreamOptions } from "./storage/journal.js";
export type { JournalLimits } from "./storage/journal-limits.js";
export type { Logger } from "./storage/journal-maintenance.js";
export type { Durability, JournalOptions } from "./storage/journal-options.js";
export type { JournalStats, ReleasedCounts } from "./storage/journal-stats.js";
export type { RecoveryEvent, RecoveryEventKind } from "./storage/recovery-event.js";
export type {
  AppendOptions,
  AppendResult,
  FollowOptions,
  JournalRecord,
  ReadOptions,
  StreamConfig,
  StreamInfo,
  TrimOptions,
} from "./storage/stream.js";
export { Stream } from "./storage/stream.js";
export type { Discard, Retention, StreamLimits } from "./storage/stream-limits.js";
