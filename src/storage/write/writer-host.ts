/**
 * What a stream's writer needs from its journal, as a few explicit objects: the file system and
 * options, the journal-wide byte accounting (admission, room, reservations), the counters that
 * `stats()` reports, and one events interface through which the writer tells the journal what
 * happened. The writer never calls back into the journal otherwise.
 */
import type { FileSystem } from "../fs/file-system.js";
import type { IndexCache } from "../index/index-cache.js";
import type { ResolvedOptions } from "../journal/journal-options.js";
import type { JournalCounters } from "../journal/journal-stats.js";
import type { JournalAccounting } from "../retention/journal-limits.js";
import type { BufferPool } from "./buffer-pool.js";
import type { CommitLog } from "./commit-log.js";
import type { PendingWrites } from "./write-behind.js";

export interface WriterEvents {
  /** Bytes were committed: journal-wide eviction may be due. */
  committed(bytes: number): void;
  /** An append waits for journal-wide room: eviction should run. */
  roomWanted(): void;
  /** Committed bytes not yet covered by a checkpoint changed (the recovery scan budget). */
  uncheckedChanged(deltaBytes: number): void;
}

export interface WriterHost {
  fs: FileSystem;
  options: ResolvedOptions;
  clock: () => number;
  indexCache: IndexCache;
  /** Where appends' encoded buffers come from and go back to after their write. */
  buffers: BufferPool;
  accounting: JournalAccounting;
  counters: JournalCounters;
  events: WriterEvents;
  /** The commit log ('always' and 'batch'); undefined under 'none' and while the journal opens. */
  log: CommitLog | undefined;
  /** Segment bytes the log has but the segments not yet (write-behind.ts), journal-wide. */
  pending: PendingWrites;
}
