/**
 * The objects a journal is made of, wired together once when it opens: the journal-wide
 * accounting of bytes and limits, background maintenance, the commit log's keeper, what each
 * stream's writer needs (`WriterHost`) and what each stream's reads need (`StreamHost`). The
 * journal keeps the stream table and its life (open, delete, close); the parts reach the table
 * only through the few callbacks of `JournalTable`, so none of them holds the journal itself.
 */
import { join } from "node:path";
import type { Logger } from "../../logger.js";
import type { FileSystem } from "../fs/file-system.js";
import { NodeFileSystem } from "../fs/node-file-system.js";
import { IndexCache } from "../index/index-cache.js";
import { ReadOnlyTail } from "../read/read-only-tail.js";
import type { RecoveryEvent } from "../recovery/recovery-event.js";
import {
  JournalAccounting,
  type JournalLimits,
  resolveJournalLimits,
} from "../retention/journal-limits.js";
import type { ConsumerStore } from "../stream/consumer-store.js";
import type { Stream, StreamHost } from "../stream/stream.js";
import type { OpenerContext } from "../stream/stream-opener.js";
import type { StreamState } from "../stream/stream-state.js";
import type { BufferPool } from "../write/buffer-pool.js";
import type { StreamWriter } from "../write/stream-writer.js";
import { overlay, type PendingWrites } from "../write/write-behind.js";
import type { WriterHost } from "../write/writer-host.js";
import { STREAMS_DIR } from "./journal-directory.js";
import { JournalMaintenance } from "./journal-maintenance.js";
import type { ResolvedOptions } from "./journal-options.js";
import type { JournalCounters } from "./journal-stats.js";
import { LogKeeper } from "./log-keeper.js";

/** Segments whose sparse indexes stay in memory. */
const INDEX_CACHE_SEGMENTS = 256;

/** One open stream of the journal's table. */
export interface Entry {
  stream: Stream;
  state: StreamState;
  writer: StreamWriter | undefined;
  consumers: ConsumerStore;
}

export interface JournalBase {
  dir: string;
  fs: FileSystem;
  options: ResolvedOptions;
  clock: () => number;
  logger: Logger;
  report: (event: RecoveryEvent) => void;
  limits: JournalLimits | undefined;
}

/** What the parts may ask of the journal's stream table. */
export interface JournalTable {
  buffers: BufferPool;
  counters: JournalCounters;
  /** Bytes the commit log has and the segments not yet; readers see them (write-behind.ts). */
  pending: PendingWrites;
  entries(): Iterable<Entry>;
  isClosed(): boolean;
  /** Deletes an idle stream (maintenance's sweep). */
  sweep(name: string): Promise<void>;
}

export interface JournalParts {
  opener: OpenerContext;
  accounting: JournalAccounting;
  maintenance: JournalMaintenance;
  writerHost: WriterHost;
  logKeeper: LogKeeper;
  readOnlyTail: ReadOnlyTail | undefined;
  host: StreamHost;
}

export function assembleJournal(base: JournalBase, table: JournalTable): JournalParts {
  const { dir, fs, options, clock, logger, report } = base;
  const { pending, counters } = table;
  const opener: OpenerContext = { fs, streamsDir: join(dir, STREAMS_DIR), options, clock, report };
  // Created below; the accounting's disk check reaches it only once the journal runs.
  let maintenance: JournalMaintenance | undefined;
  let logKeeper: LogKeeper | undefined;
  const accounting = new JournalAccounting(resolveJournalLimits(base.limits), () => {
    void maintenance?.checkDisk();
  });
  const running = new JournalMaintenance({
    dir,
    fs,
    options,
    accounting,
    clock,
    logger,
    streams: () => table.entries(),
    syncLog: () => logKeeper?.log?.sync(),
    pendingBytes: () => pending.totalBytes,
    flushIntervalMs: () => pending.flushIntervalMs(),
    sweep: (name) => table.sweep(name),
  });
  maintenance = running;
  const indexCache = new IndexCache(overlay(fs, pending), INDEX_CACHE_SEGMENTS, options.readOnly);
  const writerHost: WriterHost = {
    fs,
    options,
    clock,
    indexCache,
    buffers: table.buffers,
    accounting,
    counters,
    events: {
      committed: () => {
        accounting.setNothingToEvict(false);
        running.requestEviction();
        running.onStaged();
      },
      roomWanted: () => running.requestEviction(),
      uncheckedChanged: (delta) => running.onUnchecked(delta),
    },
    log: undefined,
    pending,
  };
  const keeper = new LogKeeper({
    fs,
    dir,
    options,
    clock,
    counters,
    logger,
    writers: () =>
      [...table.entries()].flatMap((entry) => (entry.writer === undefined ? [] : [entry.writer])),
    isClosed: () => table.isClosed(),
    backlogged: (value) => accounting.setLogBacklog(value),
  });
  logKeeper = keeper;
  const tail = options.readOnly
    ? new ReadOnlyTail(fs, options.pollIntervalMs, fs instanceof NodeFileSystem)
    : undefined;
  const host: StreamHost = {
    options,
    reader: { fs: overlay(fs, pending), indexCache, readChunkBytes: options.readChunkBytes },
    isClosed: () => table.isClosed(),
    now: clock,
    ...(tail === undefined
      ? {}
      : {
          refresh: (state) => tail.refresh(state),
          watch: (state, wake) => tail.watch(state, wake),
        }),
  };
  return {
    opener,
    accounting,
    maintenance: running,
    writerHost,
    logKeeper: keeper,
    readOnlyTail: tail,
    host,
  };
}
