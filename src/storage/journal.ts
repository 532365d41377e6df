/**
 * A journal: a directory of streams with one writer process (docs/format.md §1). `open` takes the
 * writer lock, cleans up interrupted creates and deletes, and recovers every stream; the time it
 * takes depends on the number of streams and what was written since each stream's checkpoint,
 * not on how much data the journal holds.
 *
 * Background work, all on unref'd timers: under 'batch', a sync of every stream with unsynced
 * appends every `syncIntervalMs`; checkpoints of streams that have gone quiet; and, when all
 * streams' unchecked bytes pass `recoveryScanBytesMax`, checkpoints of all of them.
 */
import { join } from "node:path";
import {
  ClosedError,
  CorruptError,
  fromSystemError,
  InvalidArgumentError,
  isErrnoCode,
  NotAJournalError,
  NotFoundError,
  TidemarkError,
  UnsupportedFormatError,
} from "../errors.js";
import { FORMAT_VERSION } from "../format/constants.js";
import { BufferPool } from "./buffer-pool.js";
import { readSmallFile, removeTree, writeFileAtomic } from "./file-ops.js";
import type { FileSystem } from "./file-system.js";
import { IndexCache } from "./index-cache.js";
import { type JournalOptions, type ResolvedOptions, resolveOptions } from "./journal-options.js";
import { NodeFileSystem } from "./node-file-system.js";
import { ReadOnlyTail } from "./read-only-tail.js";
import type { RecoveryEvent } from "./recovery-event.js";
import { Semaphore } from "./semaphore.js";
import { Stream, type StreamHost } from "./stream.js";
import { streamIdentity, validateStreamName } from "./stream-name.js";
import {
  createStreamDir,
  DELETED_STREAM_PREFIX,
  type OpenerContext,
  openStreamDir,
  TMP_STREAM_PREFIX,
} from "./stream-opener.js";
import type { StreamState } from "./stream-state.js";
import { StreamWriter } from "./stream-writer.js";
import { WriterLock } from "./writer-lock.js";

const DESCRIPTOR_FILE = "tidemark.json";
const STREAMS_DIR = "streams";
const LOCK_DIR = "lock";
const INDEX_CACHE_SEGMENTS = 256;
const MAINTENANCE_INTERVAL_MS = 250;
const BUFFER_POOL_BYTES_MAX = 32 * 1024 * 1024;

interface Entry {
  stream: Stream;
  state: StreamState;
  writer: StreamWriter | undefined;
}

export class Journal {
  /** Everything `open` repaired or found damaged (also passed to `onRecovery`). */
  readonly recovery: RecoveryEvent[] = [];
  private readonly streams = new Map<string, Entry>();
  private readonly opening = new Map<string, Promise<Stream>>();
  private readonly openLimit: Semaphore;
  private readonly buffers = new BufferPool(BUFFER_POOL_BYTES_MAX);
  private readonly host: StreamHost;
  private readonly opener: OpenerContext;
  private readonly readOnlyTail: ReadOnlyTail | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private uncheckedBytes = 0;
  private checkpointingAll = false;
  /** Bytes recovery scanned to find the streams' tails at open. */
  recoveryScannedBytes = 0;

  private constructor(
    readonly dir: string,
    readonly options: ResolvedOptions,
    private readonly fs: FileSystem,
    private readonly clock: () => number,
    private readonly lock: WriterLock | undefined,
    onRecovery: ((event: RecoveryEvent) => void) | undefined,
  ) {
    const report = (event: RecoveryEvent) => {
      this.recovery.push(event);
      onRecovery?.(event);
    };
    this.opener = { fs, streamsDir: join(dir, STREAMS_DIR), options, clock, report };
    this.openLimit = new Semaphore(options.openConcurrency);
    const indexCache = new IndexCache(fs, INDEX_CACHE_SEGMENTS, options.readOnly);
    this.readOnlyTail = options.readOnly
      ? new ReadOnlyTail(fs, options.pollIntervalMs, fs instanceof NodeFileSystem)
      : undefined;
    const tail = this.readOnlyTail;
    this.host = {
      options,
      reader: { fs, indexCache, readChunkBytes: options.readChunkBytes },
      isClosed: () => this.closed,
      now: clock,
      ...(tail === undefined
        ? {}
        : {
            refresh: (state) => tail.refresh(state),
            watch: (state, wake) => tail.watch(state, wake),
          }),
    };
  }

  static async open(dir: string, options: JournalOptions = {}): Promise<Journal> {
    if (typeof dir !== "string" || dir.length === 0) {
      throw new InvalidArgumentError("Journal.open needs a directory path");
    }
    const resolved = resolveOptions(options);
    const fs = options.fs ?? new NodeFileSystem();
    const clock = options.clock ?? Date.now;
    await prepareDirectory(fs, dir, resolved.readOnly);
    const lock =
      resolved.readOnly || options.fs !== undefined ? undefined : await WriterLock.acquire(dir);
    try {
      await checkDescriptor(fs, dir, clock, resolved);
      const journal = new Journal(dir, resolved, fs, clock, lock, options.onRecovery);
      await journal.openAll();
      journal.startTimers();
      return journal;
    } catch (err) {
      await lock?.release();
      throw err;
    }
  }

  /** Opens the stream called `name`, creating it if it does not exist (writer only). */
  async stream(name: string): Promise<Stream> {
    validateStreamName(name);
    this.checkOpen();
    const existing = this.streams.get(name);
    if (existing !== undefined) return existing.stream;
    let opening = this.opening.get(name);
    if (opening === undefined) {
      // Bounded: a thousand streams opened at once would hold a thousand recoveries' buffers.
      opening = this.openLimit
        .run(() => this.openOrCreate(name))
        .finally(() => this.opening.delete(name));
      this.opening.set(name, opening);
    }
    return opening;
  }

  /** Names of the streams in this journal, sorted. */
  list(): string[] {
    this.checkOpen();
    return [...this.streams.keys()].sort();
  }

  /** Finishes in-flight appends, syncs and checkpoints every stream, releases the lock. */
  close(): Promise<void> {
    this.closing ??= this.closeAll();
    return this.closing;
  }

  private async closeAll(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await Promise.allSettled([...this.opening.values()]);
    const failures: unknown[] = [];
    for (const { state, writer } of this.streams.values()) {
      try {
        await writer?.close();
      } catch (err) {
        failures.push(err);
      }
      state.end();
    }
    this.readOnlyTail?.close();
    await this.lock?.release();
    if (failures.length > 0) throw failures[0];
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError();
  }

  private async openOrCreate(name: string): Promise<Stream> {
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
      await createStreamDir(this.opener, name, {});
    } catch (err) {
      // Another opener of this process won a race for the same directory: open theirs.
      if (!(err instanceof TidemarkError && isErrnoCode(err.cause, "EEXIST"))) throw err;
    }
    return this.openDir(dirName);
  }

  private async openDir(dirName: string): Promise<Stream> {
    const opened = await openStreamDir(this.opener, dirName);
    this.recoveryScannedBytes += opened.scannedBytes;
    const { state } = opened;
    let writer: StreamWriter | undefined;
    if (!this.options.readOnly) {
      const file = opened.activeFile!;
      writer = new StreamWriter(
        {
          fs: this.fs,
          options: this.options,
          clock: this.clock,
          indexCache: this.host.reader.indexCache,
          buffers: this.buffers,
          onUnchecked: (delta) => this.onUnchecked(delta),
        },
        state,
        file,
      );
    }
    const stream = new Stream(this.host, state, writer);
    this.streams.set(state.name, { stream, state, writer });
    return stream;
  }

  private async openAll(): Promise<void> {
    const streamsDir = join(this.dir, STREAMS_DIR);
    let names: string[];
    try {
      names = await this.fs.readdir(streamsDir);
    } catch (err) {
      if (isErrnoCode(err, "ENOENT") && this.options.readOnly) return;
      throw err;
    }
    const toOpen: string[] = [];
    for (const name of names) {
      if (name.startsWith(TMP_STREAM_PREFIX) || name.startsWith(DELETED_STREAM_PREFIX)) {
        if (this.options.readOnly) continue;
        await removeTree(this.fs, join(streamsDir, name));
        const what = name.startsWith(TMP_STREAM_PREFIX)
          ? "an interrupted create"
          : "an interrupted delete";
        this.opener.report({
          kind: "removed-temp",
          path: name,
          message: `removed ${name}, left by ${what}`,
        });
      } else {
        toOpen.push(name);
      }
    }
    let next = 0;
    const worker = async () => {
      while (next < toOpen.length) {
        const dirName = toOpen[next++]!;
        try {
          await this.openDir(dirName);
        } catch (err) {
          if (!(err instanceof CorruptError) && !isErrnoCode(err, "ENOENT")) throw err;
          const message = err instanceof Error ? err.message : String(err);
          this.opener.report({
            kind: "corrupt",
            path: dirName,
            message: `stream directory ${dirName} not opened: ${message}`,
          });
        }
      }
    };
    await Promise.all(Array.from({ length: this.options.openConcurrency }, worker));
  }

  private startTimers(): void {
    if (this.options.readOnly) return;
    const every = (ms: number, fn: () => void) => {
      const timer = setInterval(fn, ms);
      timer.unref();
      this.timers.push(timer);
    };
    if (this.options.durability === "batch") {
      every(this.options.syncIntervalMs, () => {
        for (const { writer } of this.streams.values()) writer?.requestSync();
      });
    }
    every(MAINTENANCE_INTERVAL_MS, () => this.checkpointQuietStreams());
  }

  private checkpointQuietStreams(): void {
    const now = this.clock();
    for (const { writer } of this.streams.values()) {
      if (
        writer !== undefined &&
        writer.uncheckedBytes > 0 &&
        now - writer.lastCommitAtMs >= this.options.checkpointQuietMs
      ) {
        void writer.checkpoint();
      }
    }
  }

  private onUnchecked(deltaBytes: number): void {
    this.uncheckedBytes += deltaBytes;
    if (this.uncheckedBytes <= this.options.recoveryScanBytesMax || this.checkpointingAll) return;
    this.checkpointingAll = true;
    const writers = [...this.streams.values()]
      .map((entry) => entry.writer)
      .filter((writer) => writer !== undefined);
    void Promise.allSettled(writers.map((writer) => writer.checkpoint())).finally(() => {
      this.checkpointingAll = false;
    });
  }
}

async function prepareDirectory(fs: FileSystem, dir: string, readOnly: boolean): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (!isErrnoCode(err, "ENOENT"))
      throw fromSystemError(err, `open journal directory ${dir}`, { path: dir });
    if (readOnly) throw new NotFoundError(`there is no journal at ${dir}`, { path: dir });
    await makeDirectories(fs, dir);
    return;
  }
  // What another opener creating this journal right now may have made so far is not foreign.
  const ours = new Set([DESCRIPTOR_FILE, `${DESCRIPTOR_FILE}.tmp`, LOCK_DIR, STREAMS_DIR]);
  const foreign = names.filter((name) => !ours.has(name));
  if (!names.includes(DESCRIPTOR_FILE) && (foreign.length > 0 || readOnly)) {
    throw new NotAJournalError(
      readOnly
        ? `${dir} holds no tidemark journal (no ${DESCRIPTOR_FILE})`
        : `${dir} is not empty (${foreign.slice(0, 3).join(", ")}${foreign.length > 3 ? ", …" : ""}) and holds no tidemark journal (no ${DESCRIPTOR_FILE}); refusing to write into it`,
      { path: dir },
    );
  }
}

async function makeDirectories(fs: FileSystem, dir: string): Promise<void> {
  const parent = join(dir, "..");
  if (parent !== dir) {
    try {
      await fs.stat(parent);
    } catch (err) {
      if (!isErrnoCode(err, "ENOENT")) throw err;
      await makeDirectories(fs, parent);
    }
  }
  try {
    await fs.mkdir(dir);
  } catch (err) {
    if (!isErrnoCode(err, "EEXIST")) throw err;
  }
}

/** Checks the journal descriptor (§2), creating it (and `streams/`) for a new journal. */
async function checkDescriptor(
  fs: FileSystem,
  dir: string,
  clock: () => number,
  options: ResolvedOptions,
): Promise<void> {
  const durable = options.durability !== "none";
  let raw: Buffer | undefined;
  try {
    raw = await readSmallFile(fs, join(dir, DESCRIPTOR_FILE), 64 * 1024);
  } catch (err) {
    if (!isErrnoCode(err, "ENOENT")) throw err;
  }
  if (raw === undefined) {
    if (options.readOnly)
      throw new NotAJournalError(`${dir} holds no tidemark journal`, { path: dir });
    const descriptor = JSON.stringify({ format: FORMAT_VERSION, createdAtMs: clock() });
    await writeFileAtomic(fs, dir, DESCRIPTOR_FILE, Buffer.from(descriptor), durable);
  } else {
    let format: unknown;
    try {
      format = (JSON.parse(raw.toString("utf8")) as { format?: unknown }).format;
    } catch {
      format = undefined;
    }
    if (typeof format !== "number") {
      throw new CorruptError(`${join(dir, DESCRIPTOR_FILE)} is damaged`, { path: dir });
    }
    if (format > FORMAT_VERSION) {
      throw new UnsupportedFormatError(
        `the journal at ${dir} uses format ${format}; this tidemark reads up to ${FORMAT_VERSION}`,
        { path: dir },
      );
    }
  }
  if (options.readOnly) return;
  try {
    await fs.mkdir(join(dir, STREAMS_DIR));
    if (durable) await fs.syncDir(dir);
  } catch (err) {
    if (!isErrnoCode(err, "EEXIST")) throw err;
  }
}
