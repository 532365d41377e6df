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
export type { BackoffOptions } from "./outbox/delivery/backoff.js";
export { Mirror, type MirrorOptions, type MirrorStats } from "./outbox/mirror.js";
export {
  Outbox,
  type OutboxEntryInfo,
  type OutboxOptions,
  type OutboxStats,
  type RetryOptions,
} from "./outbox/outbox.js";
export type { OutboxEntryInput, Precondition } from "./outbox/store/entry.js";
export {
  DurableStreamsUpstream,
  type DurableStreamsUpstreamOptions,
} from "./outbox/upstreams/durable-streams-upstream.js";
export { HttpUpstream, type HttpUpstreamOptions } from "./outbox/upstreams/http-upstream.js";
export type { Delivery, Outcome, Upstream, UpstreamAnswer } from "./outbox/upstreams/upstream.js";
export type { FileHandle, FileStat, FileSystem, OpenMode } from "./storage/fs/file-system.js";
export { Journal, type StreamOptions } from "./storage/journal/journal.js";
export type { Logger } from "./storage/journal/journal-maintenance.js";
export type { Durability, JournalOptions } from "./storage/journal/journal-options.js";
export type { JournalStats, ReleasedCounts } from "./storage/journal/journal-stats.js";
export type { RecoveryEvent, RecoveryEventKind } from "./storage/recovery/recovery-event.js";
export type { JournalLimits } from "./storage/retention/journal-limits.js";
export type { Discard, Retention, StreamLimits } from "./storage/retention/stream-limits.js";
export { Consumer } from "./storage/stream/consumer.js";
export type {
  AppendOptions,
  AppendResult,
  FollowOptions,
  JournalRecord,
  ReadOptions,
  StreamConfig,
  StreamInfo,
  TrimOptions,
} from "./storage/stream/stream.js";
export { Stream } from "./storage/stream/stream.js";
