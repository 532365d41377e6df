/**
 * The storage layer's face: what the layers above it (outbox, server, CLI) and the public API
 * may use. Everything else under storage/ is internal to it.
 */
export type { FileHandle, FileStat, FileSystem, OpenMode } from "./fs/file-system.js";
export { NodeFileSystem } from "./fs/node-file-system.js";
export { Journal, type JournalImport, type StreamOptions } from "./journal/journal.js";
export type { Durability, JournalOptions } from "./journal/journal-options.js";
export type { JournalStats, ReleasedCounts } from "./journal/journal-stats.js";
export type { RecoveryEvent, RecoveryEventKind } from "./recovery/recovery-event.js";
export {
  type RepairAction,
  type RepairOptions,
  type RepairReport,
  repairJournal,
} from "./repair/journal-repair.js";
export {
  type JournalLimits,
  type ResolvedJournalLimits,
  resolveJournalLimits,
} from "./retention/journal-limits.js";
export {
  type Discard,
  type Retention,
  resolveLimits,
  type StreamLimits,
} from "./retention/stream-limits.js";
export { Consumer } from "./stream/consumer.js";
export { LOST_RANGES_MAX, type LostRange } from "./stream/lost-ranges.js";
export {
  type AppendOptions,
  type AppendResult,
  type FollowOptions,
  type JournalRecord,
  type ReadOptions,
  Stream,
  type StreamConfig,
  type StreamInfo,
  type TrimOptions,
} from "./stream/stream.js";
export type { ImportedRecord, ImportSummary, StreamImportInit } from "./stream/stream-import.js";
export { STREAM_NAME_BYTES_MAX } from "./stream/stream-name.js";
