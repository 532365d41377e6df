/**
 * A journal: a directory of streams with one writer process (docs/format.md §1). `open` takes the
 * writer lock, cleans up interrupted creates and deletes, and recovers every stream; the time it
 * takes depends on the number of streams and what was written since each stream's checkpoint,
 * not on how much data the journal holds. The parts it is made of are wired in
 * journal-parts.ts, background work is in journal-maintenance.ts, the journal-wide limits in
 * journal-limits.ts.
 */

import {
  ClosedError,
  InvalidArgumentError,
  isErrnoCode,
  NotFoundError,
  ReadOnlyError,
  TidemarkError,
} from "../../errors.js";
import { type Logger, SILENT_LOGGER } from "../../logger.js";
import { checkKnownKeys } from "../../options-check.js";
import { removeTree } from "../fs/file-ops.js";
import type { FileSystem } from "../fs/file-system.js";
import { NodeFileSystem } from "../fs/node-file-system.js";
import type { ReadOnlyTail } from "../read/read-only-tail.js";
import type { RecoveryEvent } from "../recovery/recovery-event.js";
import {
  type JournalAccounting,
  type ResolvedJournalLimits,
  resolveJournalLimits,
} from "../retention/journal-limits.js";
import {
  limitsToJson,
  type Retention,
  resolveLimits,
  type StreamLimits,
  validateRetention,
} from "../retention/stream-limits.js";
import { ConsumerStore } from "../stream/consumer-store.js";
import { Stream, type StreamHost } from "../stream/stream.js";
import {
  type ImportedRecord,
  type ImportSummary,
  StreamImport,
  type StreamImportInit,
} from "../stream/stream-import.js";
import { streamIdentity, validateStreamName } from "../stream/stream-name.js";
import { createStreamDir, type OpenerContext, openStreamDir } from "../stream/stream-opener.js";
import { BufferPool } from "../write/buffer-pool.js";
import { StreamWriter } from "../write/stream-writer.js";
import { PendingWrites } from "../write/write-behind.js";
import type { WriterHost } from "../write/writer-host.js";
import { checkDescriptor, prepareDirectory } from "./journal-directory.js";
import type { JournalMaintenance } from "./journal-maintenance.js";
import { type JournalOptions, type ResolvedOptions, resolveOptions } from "./journal-options.js";
import { assembleJournal, type Entry } from "./journal-parts.js";
import { type LogRecovery, listStreamDirs, openEach, recoverLog } from "./journal-startup.js";
import { collectStats, JournalCounters, type JournalStats } from "./journal-stats.js";
import type { LogKeeper } from "./log-keeper.js";
import { Semaphore } from "./semaphore.js";
import { moveOutOfSight } from "./stream-removal.js";
import { WriterLock } from "./writer-lock.js";

const STREAM_OPTION_KEYS = ["limits", "retention", "meta"] as const;
/** Segments a checkpoint syncs at once (the log's fdatasync shares libuv's 4 threads). */
const BUFFER_POOL_BYTES_MAX = 32 * 1024 * 1024;

export interface StreamOptions {
  /** Limits for this stream; for an existing stream, given limits replace the stored ones. */
  limits?: StreamLimits;
  retention?: Retention;
  /** Metadata a new stream is created with, in the same atomic step (ignored if it exists). */
  meta?: Record<string, unknown>;
}

/** A stream being imported with its own seqs and timestamps (see `Journal.importStream`). */
export interface JournalImport {
  /** Returns a promise only when it wrote: await it before the next add. */
  add(record: ImportedRecord): Promise<void> | undefined;
  /** A record already encoded as docs/format.md §4.2, COMMIT set, CRC checked. */
  addEncoded(bytes: Uint8Array, seq: number, timestampMs: number): Promise<void> | undefined;
  /** Puts the stream in place and opens it; `lastSeq` defaults to the last record's. */
  finish(lastSeq?: number): Promise<{ stream: Stream; summary: ImportSummary }>;
  abort(): Promise<void>;
}

export class Journal {
  /** Everything `open` repaired or found damaged (also passed to `onRecovery`). */
  readonly recovery: RecoveryEvent[] = [];
  /** Bytes recovery scanned to find the streams' tails at open. */
  recoveryScannedBytes = 0;
  private readonly streams = new Map<string, Entry>();
  private readonly opening = new Map<string, Promise<Stream>>();
  private readonly openLimit: Semaphore;
  private readonly buffers = new BufferPool(BUFFER_POOL_BYTES_MAX);
  private readonly counters = new JournalCounters();
  private readonly closeHooks = new Set<() => Promise<void>>();
  /** Bytes the commit log has and the segments not yet; readers see them (write-behind.ts). */
  private readonly pending = new PendingWrites();
  private readonly logger: Logger;
  private readonly logKeeper: LogKeeper;
  private readonly accounting: JournalAccounting;
  private readonly maintenance: JournalMaintenance;
  private readonly host: StreamHost;
  private readonly opener: OpenerContext;
  private readonly writerHost: WriterHost;
  private readonly readOnlyTail: ReadOnlyTail | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    readonly options: ResolvedOptions,
    private readonly fs: FileSystem,
    private readonly clock: () => number,
    private readonly lock: WriterLock | undefined,
    journalOptions: JournalOptions,
  ) {
    const report = (event: RecoveryEvent) => {
      this.recovery.push(event);
      journalOptions.onRecovery?.(event);
    };
    this.logger = journalOptions.logger ?? SILENT_LOGGER;
    this.openLimit = new Semaphore(options.openConcurrency);
    const parts = assembleJournal(
      { dir, fs, options, clock, logger: this.logger, report, limits: journalOptions.limits },
      {
        buffers: this.buffers,
        counters: this.counters,
        pending: this.pending,
        entries: () => this.streams.values(),
        isClosed: () => this.closed,
        sweep: (name) => this.remove(name, true),
      },
    );
    this.opener = parts.opener;
    this.accounting = parts.accounting;
    this.maintenance = parts.maintenance;
    this.writerHost = parts.writerHost;
    this.logKeeper = parts.logKeeper;
    this.readOnlyTail = parts.readOnlyTail;
    this.host = parts.host;
  }

  static async open(dir: string, options: JournalOptions = {}): Promise<Journal> {
    if (typeof dir !== "string" || dir.length === 0) {
      throw new InvalidArgumentError("Journal.open needs a directory path");
    }
    const resolved = resolveOptions(options);
    resolveJournalLimits(options.limits); // validate before touching the disk
    const fs =
      options.fs ?? new NodeFileSystem({ fileMode: resolved.fileMode, dirMode: resolved.dirMode });
    const clock = options.clock ?? Date.now;
    await prepareDirectory(fs, dir, resolved.readOnly);
    const lock = resolved.readOnly
      ? undefined
      : await WriterLock.acquire(fs, dir, {
          ...(options.bootId === undefined ? {} : { bootId: options.bootId }),
        });
    let journal: Journal | undefined;
    try {
      const format = await checkDescriptor(fs, dir, clock, resolved);
      journal = new Journal(dir, resolved, fs, clock, lock, options);
      const recovered = await journal.openAll();
      if (!resolved.readOnly) {
        await journal.logKeeper.start(recovered.fileSeqs, format);
        journal.writerHost.log = journal.logKeeper.log;
        await journal.maintenance.checkDisk();
        journal.maintenance.start();
        journal.maintenance.requestEviction();
      }
      return journal;
    } catch (err) {
      await journal?.close().catch(() => undefined);
      await lock?.release();
      throw err;
    }
  }

  /**
   * Opens the stream called `name`, creating it if it does not exist (writer only). Given
   * `limits` or `retention` are stored with the stream, replacing what it had.
   */
  async stream(name: string, options: StreamOptions = {}): Promise<Stream> {
    validateStreamName(name);
    this.checkOpen();
    checkKnownKeys(options, STREAM_OPTION_KEYS, "stream() options");
    const limits =
      options.limits === undefined ? undefined : resolveLimits(options.limits, { stream: name });
    const retention =
      options.retention === undefined
        ? undefined
        : validateRetention(options.retention, { stream: name });
    let stream = this.streams.get(name)?.stream;
    if (stream === undefined) {
      let opening = this.opening.get(name);
      if (opening === undefined) {
        // Bounded: a thousand streams opened at once would hold a thousand recoveries' buffers.
        opening = this.openLimit
          .run(() => this.openOrCreate(name, options))
          .finally(() => this.opening.delete(name));
        this.opening.set(name, opening);
      }
      stream = await opening;
    }
    const changed =
      (limits !== undefined &&
        JSON.stringify(stream.limits) !== JSON.stringify(limitsToJson(limits))) ||
      (retention !== undefined && stream.retention !== retention);
    if (changed)
      await stream.configure({
        ...(limits === undefined ? {} : { limits: options.limits }),
        ...(retention === undefined ? {} : { retention }),
      });
    return stream;
  }

  /**
   * @internal Builds a new stream from records that keep their seqs and timestamps (`tidemark
   * import`): written beside the journal's streams and renamed into place whole by `finish`
   * (stream-import.ts). Fails with STREAM_EXISTS if the stream exists.
   */
  async importStream(name: string, init: StreamImportInit): Promise<JournalImport> {
    validateStreamName(name);
    this.checkOpen();
    if (this.options.readOnly) throw new ReadOnlyError(undefined, { stream: name });
    await this.opening.get(name)?.catch(() => undefined);
    if (this.streams.has(name)) {
      throw new TidemarkError("STREAM_EXISTS", `stream ${JSON.stringify(name)} already exists`, {
        stream: name,
      });
    }
    const builder = await StreamImport.begin(this.opener, name, init);
    return {
      add: (record) => builder.add(record),
      addEncoded: (bytes, seq, timestampMs) => builder.addEncoded(bytes, seq, timestampMs),
      abort: () => builder.abort(),
      finish: async (lastSeq) => {
        this.checkOpen();
        const { dirName, summary } = await builder.finish(lastSeq);
        return { stream: await this.openDir(dirName), summary };
      },
    };
  }

  /**
   * Runs `hook` when the journal starts to close, while it still takes writes: the layers above
   * (outboxes, mirrors) finish their work and store their state then. Returns a function that
   * unregisters it.
   */
  onClose(hook: () => Promise<void>): () => void {
    this.checkOpen();
    this.closeHooks.add(hook);
    return () => {
      this.closeHooks.delete(hook);
    };
  }

  /** Names of the streams in this journal, sorted. */
  list(): string[] {
    this.checkOpen();
    return [...this.streams.keys()].sort();
  }

  /**
   * Deletes a stream and all its data. Atomic: a crash during the delete leaves the stream whole
   * or gone. Appends already accepted finish first; followers end. Resolves false if there was
   * no such stream.
   */
  async deleteStream(name: string): Promise<boolean> {
    validateStreamName(name);
    this.checkOpen();
    if (this.options.readOnly) throw new ReadOnlyError(undefined, { stream: name });
    await this.opening.get(name)?.catch(() => undefined);
    if (!this.streams.has(name)) return false;
    await this.remove(name, false);
    return true;
  }

  /** The journal-wide limits in force, defaults filled in (Infinity where there is none). */
  get limits(): Readonly<ResolvedJournalLimits> {
    return this.accounting.limits;
  }

  /** Totals across streams and what the journal has released or refused since it opened. */
  stats(): Promise<JournalStats> {
    this.checkOpen();
    return collectStats(this.streams.values(), this.counters, this.accounting);
  }

  /**
   * @internal Runs one round of background work now and waits for it: disk check, writing every
   * stream's staged bytes to its segment, every stream's retention (age, limits, acknowledged
   * data, an interrupted trim), idle sweeping, journal-wide eviction.
   */
  runMaintenance(): Promise<void> {
    this.checkOpen();
    return this.maintenance.runOnce();
  }

  /** Finishes in-flight appends, syncs and checkpoints every stream, releases the lock. */
  close(): Promise<void> {
    this.closing ??= this.closeAll();
    return this.closing;
  }

  private async closeAll(): Promise<void> {
    // The layers above first (outboxes, mirrors), while the journal still takes writes: they
    // finish attempts in flight and write their state (delivered entries, positions).
    for (const hook of [...this.closeHooks]) await hook().catch(() => undefined);
    this.closeHooks.clear();
    this.closed = true;
    this.maintenance.stop();
    await Promise.allSettled([...this.opening.values()]);
    await this.logKeeper.settled();
    const failures: unknown[] = [];
    let allSynced = true;
    for (const { state, writer, consumers } of this.streams.values()) {
      try {
        await writer?.close();
        if (writer?.unsynced) allSynced = false;
        await consumers.close();
      } catch (err) {
        failures.push(err);
        allSynced = false;
      }
      state.end();
    }
    // Every segment synced: the log holds nothing the next open would need.
    await this.logKeeper.close(allSynced).catch((err: unknown) => failures.push(err));
    this.readOnlyTail?.close();
    await this.lock?.release();
    if (failures.length > 0) throw failures[0];
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError();
  }

  /** Deletes a stream: rename out of sight and flush (the atomic step), then remove the files. */
  private async remove(name: string, swept: boolean): Promise<void> {
    const entry = this.streams.get(name);
    if (entry === undefined) return;
    const { state, writer, consumers } = entry;
    state.deleted = true;
    state.end();
    await writer?.close();
    await consumers.close();
    let graveyard: string;
    try {
      graveyard = await moveOutOfSight(this.fs, this.dir, state, this.options.durability);
    } finally {
      this.streams.delete(name);
    }
    this.accounting.onDiskBytes(-state.segments.totalBytes());
    if (swept) this.counters.streamsSwept++;
    else this.counters.streamsDeleted++;
    // What is left is garbage; if this fails, the next open removes it.
    await removeTree(this.fs, graveyard).catch(() => undefined);
  }

  private async openOrCreate(name: string, options: StreamOptions): Promise<Stream> {
    const { dirName } = streamIdentity(name);
    try {
      return await this.openDir(dirName);
    } catch (err) {
      if (!isErrnoCode(err, "ENOENT")) throw err;
    }
    if (this.options.readOnly) {
      throw new NotFoundError(`stream ${JSON.stringify(name)} does not exist`, { stream: name });
    }
    try {
      await createStreamDir(this.opener, name, options);
    } catch (err) {
      // Another opener of this process won a race for the same directory: open theirs.
      if (!(err instanceof TidemarkError && isErrnoCode(err.cause, "EEXIST"))) throw err;
    }
    return this.openDir(dirName);
  }

  private async openDir(
    dirName: string,
    known?: Parameters<typeof openStreamDir>[2],
  ): Promise<Stream> {
    const opened = await openStreamDir(this.opener, dirName, known);
    this.recoveryScannedBytes += opened.scannedBytes;
    const { state } = opened;
    const writer =
      opened.activeFile === undefined
        ? undefined
        : new StreamWriter(this.writerHost, state, opened.activeFile, opened.logged);
    const consumers = new ConsumerStore({
      fs: this.fs,
      state,
      durable: this.options.durability === "always",
      readOnly: this.options.readOnly,
      clock: this.clock,
      onAdvance: () => writer?.requestRelease(),
    });
    await consumers.load(this.opener.report);
    const stream = new Stream(this.host, state, writer, consumers);
    this.streams.set(state.name, { stream, state, writer, consumers });
    this.accounting.onDiskBytes(state.segments.totalBytes());
    return stream;
  }

  /** Opens every stream, after redoing the commit log into their segments (writer only). */
  private async openAll(): Promise<LogRecovery> {
    const { fs, options, opener } = this;
    const dirNames = await listStreamDirs(fs, opener.streamsDir, options.readOnly, opener.report);
    const recovered: LogRecovery = options.readOnly
      ? { fileSeqs: [], streams: new Map() }
      : await recoverLog(
          fs,
          this.dir,
          opener.streamsDir,
          dirNames,
          options.openConcurrency,
          opener.report,
        );
    await openEach(dirNames, options.openConcurrency, opener.report, (dirName) =>
      this.openDir(dirName, recovered.streams.get(dirName)),
    );
    return recovered;
  }
}
