/**
 * The journal's commit log over its life (docs/format.md §14): started after recovery has read
 * the log files left by the last run (numbered after them), checkpointed whenever it starts a
 * new file (every stream syncs what it committed to its segment, then the older files go), and
 * emptied at a clean close. A format 1 journal is upgraded in place once every stream has an id
 * (§10). One checkpoint runs at a time; a later one waits for the one before.
 */
import { JOURNAL_FORMAT_VERSION } from "../../format/constants.js";
import type { Logger } from "../../logger.js";
import type { FileSystem } from "../fs/file-system.js";
import { CommitLog, removeLogFiles } from "../write/commit-log.js";
import type { StreamWriter } from "../write/stream-writer.js";
import { ensureLogDir, writeJournalDescriptor } from "./journal-directory.js";
import type { ResolvedOptions } from "./journal-options.js";
import type { JournalCounters } from "./journal-stats.js";

/** Segments a checkpoint syncs at once (the log's fdatasync shares libuv's 4 threads). */
const CHECKPOINT_SYNCS_AT_ONCE = 2;
/**
 * Checkpoints queued or running at which new appends wait (the backlog): with 16 MiB files a
 * recovery then redoes at most about three files, where a write load over many streams that
 * outran its checkpoints left eight (131 MiB) in a benchmark, and a 20 s reopen.
 */
const CHECKPOINTS_BEHIND_MAX = 2;

export interface LogKeeperHost {
  fs: FileSystem;
  dir: string;
  options: ResolvedOptions;
  clock: () => number;
  counters: JournalCounters;
  logger: Logger;
  /** Every stream's writer now (a checkpoint syncs them). */
  writers(): StreamWriter[];
  isClosed(): boolean;
  /** Checkpoints fell behind (true) or caught up (false): new appends wait meanwhile. */
  backlogged(value: boolean): void;
}

export class LogKeeper {
  /** The commit log ('always' and 'batch'), once started. */
  log: CommitLog | undefined;
  private checkpointing: Promise<void> = Promise.resolve();
  /** Checkpoints queued or running. */
  private behind = 0;

  constructor(private readonly host: LogKeeperHost) {}

  /**
   * Starts the log after the files recovery read (`recoveredFileSeqs`), upgrades a journal of
   * an older `format`, and checkpoints the files read (what redo wrote is only in the page cache).
   */
  async start(recoveredFileSeqs: readonly number[], format: number): Promise<void> {
    const { fs, dir, options, clock, counters } = this.host;
    const durable = options.durability !== "none";
    const lastSeq = recoveredFileSeqs.at(-1) ?? 0;
    if (durable) {
      await ensureLogDir(fs, dir);
      this.log = await CommitLog.start(fs, dir, lastSeq + 1, {
        syncEachGroup: options.durability === "always",
        fileBytesMax: options.logFileBytesMax,
        groupBytesMax: options.commitBytesMax,
        clock,
        onSynced: () => {
          counters.syncs++;
        },
        onFileStarted: (fileSeq) => this.checkpoint(fileSeq),
      });
    }
    if (format < JOURNAL_FORMAT_VERSION) await writeJournalDescriptor(fs, dir, clock, durable);
    if (recoveredFileSeqs.length > 0) this.checkpoint(lastSeq + 1);
  }

  /** Every stream syncs what it has committed, then the log files before `fileSeq` go. */
  checkpoint(fileSeq: number): void {
    const { fs, dir, logger } = this.host;
    if (++this.behind === CHECKPOINTS_BEHIND_MAX) this.host.backlogged(true);
    this.checkpointing = this.checkpointing
      .then(async () => {
        const writers = this.host.writers();
        let synced = true;
        let next = 0;
        const sync = async () => {
          while (next < writers.length) {
            if (!(await writers[next++]!.syncForCheckpoint())) synced = false;
          }
        };
        // Few at a time: the log's own fdatasync shares the thread pool with these.
        await Promise.all(Array.from({ length: CHECKPOINT_SYNCS_AT_ONCE }, sync));
        if (synced && !this.host.isClosed()) await removeLogFiles(fs, dir, fileSeq);
      })
      .catch((err: unknown) => {
        logger.warn({ err: String(err) }, "a commit log checkpoint failed; it runs again later");
      })
      .finally(() => {
        if (this.behind-- === CHECKPOINTS_BEHIND_MAX) this.host.backlogged(false);
      });
  }

  /** Waits for a checkpoint in progress (the journal is closing). */
  settled(): Promise<void> {
    return this.checkpointing;
  }

  /** Closes the log; with every segment synced, it is emptied (the next open redoes nothing). */
  async close(allSynced: boolean): Promise<void> {
    await this.log?.close(allSynced);
  }
}
