/**
 * The segment a stream appends to (docs/format.md §4): its file, its sparse index file and its
 * checkpoint, and what is durable in it. Only the stream's writer loop calls this, one
 * operation at a time.
 *
 * With a commit log ('always', 'batch'; docs/format.md §14) a batch goes to the log first and is
 * committed once the log has it; then it is staged (write-behind.ts) and written to the segment
 * later, with other batches, in one pwritev (`flush`). Without one ('none') the batch is written
 * to the segment and committed when the write returns. Either way in-memory state moves only
 * after (`publish`), so readers never see a record that could still vanish, and recovery treats
 * anything not committed as a torn tail (§9 rows 3-6, 26-29). The segment is synced off the
 * acknowledgement path: at a journal checkpoint (§14.4), before rotation, and at close.
 *
 * A failed segment write is cut back off the file (direct mode) or retried at the next flush
 * (staged bytes are safe in the log); a failed fdatasync (of the segment or of the log) poisons
 * the stream (after one the kernel may have dropped the dirty pages, so no later sync could
 * prove anything), and every later append fails until the journal is reopened and recovers.
 */
import { join } from "node:path";
import { fromSystemError, IoError, type TidemarkError } from "../../errors.js";
import { SEGMENT_HEADER_BYTES } from "../../format/constants.js";
import { segmentFileName } from "../../format/segment-name.js";
import { writevFully } from "../fs/file-ops.js";
import type { FileHandle } from "../fs/file-system.js";
import { IndexFileWriter } from "../index/index-file.js";
import { SparseIndex } from "../index/sparse-index.js";
import { createSegmentFile } from "../stream/segment-file.js";
import type { StreamState } from "../stream/stream-state.js";
import { indexCandidates, type PendingAppend } from "./append-encoding.js";
import { Checkpointer, type DurablePoint } from "./checkpointer.js";
import type { CommitLog } from "./commit-log.js";
import { FLUSH_BYTES_MIN } from "./write-behind.js";
import type { WriterHost } from "./writer-host.js";

/** Linux's IOV_MAX: the most buffers one pwritev takes. */
const IOVECS_MAX = 1024;

export class ActiveSegment {
  /** Set by a failed sync or cut-back: the stream refuses writes until reopened. */
  failure: TidemarkError | undefined;
  private indexFile: IndexFileWriter;
  private readonly checkpointer: Checkpointer;
  /** Bytes ever committed by this writer; checkpoints and syncs are measured against it. */
  private committedTotal = 0;
  /** `committedTotal` at the last fdatasync of the segment; -1 while that is unknown. */
  private syncedTotal: number;
  /** What a checkpoint (§7) may name: logged, synced, or (under 'none') written. */
  private durable: DurablePoint;
  /** The active segment's path (the key of its staged bytes). */
  private path: string;
  /** The last failure to write staged bytes (retried at the next flush). */
  flushError: TidemarkError | undefined;
  private flushing: Promise<TidemarkError | undefined> | undefined;

  constructor(
    private readonly host: WriterHost,
    private readonly state: StreamState,
    private file: FileHandle,
    /** The commit log held records of this segment at open: not known synced until synced. */
    loggedAtOpen: boolean,
  ) {
    this.syncedTotal = loggedAtOpen ? -1 : 0;
    this.path = join(state.dir, segmentFileName(state.segments.active.baseSeq));
    this.indexFile = new IndexFileWriter(
      host.fs,
      state.dir,
      state.segments.active.baseSeq,
      state.activeIndex,
    );
    this.checkpointer = new Checkpointer(host.fs, state.dir, (bytes) =>
      host.events.uncheckedChanged(-bytes),
    );
    this.durable = this.currentPoint();
  }

  /** Bytes committed but not yet covered by a checkpoint. */
  get uncheckedBytes(): number {
    return this.committedTotal - this.checkpointer.coveredTotal;
  }

  /** Committed bytes of the segment not yet synced. */
  get unsynced(): boolean {
    return this.syncedTotal !== this.committedTotal;
  }

  /** When staged bytes were last written (the journal's write-behind timer looks at it). */
  lastFlushAtMs = 0;

  /**
   * Commits a batch at the committed end: to the log when there is one (while its group is
   * written and synced, earlier staged batches go to the segment), else straight to the segment;
   * then publishes it. A batch with a large payload (the caller's own buffer) is written to the
   * segment before this resolves, since the caller may reuse the buffer once the append resolves.
   */
  async commit(batch: readonly PendingAppend[], bytes: number): Promise<void> {
    const position = this.state.segments.active.bytes;
    const indexed = indexCandidates(batch, position, this.state.activeIndex.nextEntryOffset);
    const buffers: Uint8Array[] = [];
    let large = false;
    for (const pending of batch) {
      buffers.push(pending.buf!);
      if (pending.payloadAfter !== undefined) {
        buffers.push(pending.payloadAfter);
        large = true;
      }
    }
    const { log } = this.host;
    if (log === undefined) {
      await this.write(buffers, position, bytes);
      this.publish(batch, position, bytes, indexed);
      return;
    }
    const logged = this.log(log, buffers, position, bytes);
    if (this.stagedBytes >= FLUSH_BYTES_MIN) await this.flush();
    await logged;
    this.publish(batch, position, bytes, indexed);
    this.stage(buffers, position, bytes);
    if (large) await this.flush();
  }

  /** Bytes committed but not written to the segment yet (they are in the log). */
  get stagedBytes(): number {
    const end = this.host.pending.endOf(this.path);
    return end === undefined ? 0 : end - (this.host.pending.startOf(this.path) ?? end);
  }

  /** Writes `buffers` at `position` (the committed end); a failed write is cut back off. */
  async write(buffers: Uint8Array[], position: number, bytes: number): Promise<void> {
    try {
      await writevFully(this.file, buffers, position);
    } catch (err) {
      await this.cutBack(position);
      throw fromSystemError(err, `append to stream ${JSON.stringify(this.state.name)}`, {
        stream: this.state.name,
        segment: segmentFileName(this.state.segments.active.baseSeq),
        offset: position,
        bytes,
      });
    }
  }

  /**
   * Hands the batch just written at `position` to the commit log; resolves once the log has it.
   * If the log fails, the batch is cut back off the segment (and a failed log sync poisons).
   */
  async log(log: CommitLog, buffers: Uint8Array[], position: number, bytes: number): Promise<void> {
    try {
      await log.append({
        streamId: this.state.id,
        segmentBaseSeq: this.state.segments.active.baseSeq,
        segmentOffset: position,
        buffers,
        bytes,
      });
    } catch (err) {
      // Nothing of the batch reached the segment (it is staged only once committed).
      if (log.failure !== undefined) throw this.poison(log.failure);
      throw err;
    }
  }

  /** A batch committed through the log waits for `flush` (readers see it through the overlay). */
  stage(buffers: readonly Uint8Array[], position: number, bytes: number): void {
    this.host.pending.add(this.path, position, buffers, bytes);
  }

  /**
   * Writes every staged byte of the segment with as few pwritevs as IOV_MAX allows, and gives
   * their buffers back to the pool. A failure is kept in `flushError` (the bytes stay staged, and
   * safe in the log) and returned.
   */
  flush(): Promise<TidemarkError | undefined> {
    // One at a time (the loop, a rotation and close can all ask): later callers share it.
    this.flushing ??= this.flushNow().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushNow(): Promise<TidemarkError | undefined> {
    const { pending, buffers } = this.host;
    for (;;) {
      const staged = pending.peek(this.path);
      if (staged === undefined) {
        this.flushError = undefined;
        return undefined;
      }
      const parts = staged.parts.slice(0, IOVECS_MAX);
      let bytes = 0;
      for (const part of parts) bytes += part.byteLength;
      try {
        await writevFully(this.file, parts, staged.start);
      } catch (err) {
        this.flushError = fromSystemError(err, `write stream ${JSON.stringify(this.state.name)}`, {
          stream: this.state.name,
          segment: segmentFileName(this.state.segments.active.baseSeq),
          offset: staged.start,
          bytes,
        });
        return this.flushError;
      }
      for (const part of pending.written(this.path, parts.length, bytes)) {
        if (Buffer.isBuffer(part)) buffers.give(part);
      }
      this.lastFlushAtMs = this.host.clock();
    }
  }

  /**
   * Makes everything committed to the segment so far durable in it (a checkpoint, rotation,
   * close, or the 'batch' timer without a log); then its checkpoint may name that point.
   */
  async sync(): Promise<void> {
    const unwritten = await this.flush();
    if (unwritten !== undefined) throw unwritten;
    const point = this.currentPoint();
    try {
      await this.file.datasync();
    } catch (err) {
      throw this.poison(err);
    }
    this.host.counters.syncs++;
    this.syncedTotal = point.total;
    if (point.total > this.durable.total) this.durable = point;
  }

  /** The batch written at `position` is committed: the tail, the index and the totals move. */
  publish(batch: readonly PendingAppend[], position: number, bytes: number, indexed: number[]) {
    const { state } = this;
    const last = batch[batch.length - 1]!;
    state.segments.active.bytes = position + bytes;
    state.tail = {
      lastSeq: last.firstSeq + last.payloads.length - 1,
      lastTimestampMs: last.timestampMs,
      lastRecordOffset: position + bytes - last.bytes + last.lastRecordAt,
      lastRecordCrc: last.buf!.readUInt32LE(last.lastRecordAt),
    };
    for (let k = 0; k < indexed.length; k += 3) {
      const entry = state.activeIndex.offer(indexed[k]!, indexed[k + 1]!, indexed[k + 2]!);
      if (entry !== undefined) this.indexFile.append(entry);
    }
    this.committedTotal += bytes;
    if (this.host.options.durability !== "batch") this.durable = this.currentPoint();
    this.host.events.uncheckedChanged(bytes);
    if (
      this.uncheckedBytes >= this.host.options.checkpointBytes &&
      this.durable.total > this.checkpointer.coveredTotal
    ) {
      void this.checkpoint();
    }
  }

  /** Writes a checkpoint of the last durable point, unless one is being written. */
  checkpoint(): Promise<void> {
    return this.checkpointer.write(() => this.durable);
  }

  /** Seals the active segment and starts the next one (docs/format.md §4). */
  async rotate(): Promise<void> {
    const { host, state } = this;
    const durable = host.options.durability !== "none";
    if (durable && this.unsynced) await this.sync();
    const unwritten = await this.flush();
    if (unwritten !== undefined) throw unwritten;
    const sealed = state.segments.active;
    const tail = state.tail;
    const baseSeq = tail.lastSeq + 1;
    // Not the wall clock: a lower bound for the records it will hold, which were encoded (and
    // stamped) before this rotation (docs/format.md §4.1).
    const createdAtMs = tail.lastTimestampMs;
    let file: FileHandle;
    try {
      file = await createSegmentFile(host.fs, state.dir, baseSeq, createdAtMs, state.tag, durable);
    } catch (err) {
      throw fromSystemError(err, `start segment ${segmentFileName(baseSeq)}`, {
        stream: state.name,
      });
    }
    host.accounting.onDiskBytes(SEGMENT_HEADER_BYTES);
    await this.indexFile.close();
    host.indexCache.put(state.dir, sealed.baseSeq, state.activeIndex);
    const old = this.file;
    this.file = file;
    state.segments.push({ baseSeq, bytes: SEGMENT_HEADER_BYTES, createdAtMs });
    state.activeIndex = new SparseIndex();
    state.activeCreatedAtMs = Math.max(createdAtMs, host.clock());
    state.tail = { ...tail, lastRecordOffset: 0, lastRecordCrc: 0 };
    this.indexFile = new IndexFileWriter(host.fs, state.dir, baseSeq, state.activeIndex);
    this.path = join(state.dir, segmentFileName(baseSeq));
    if (durable || !this.unsynced) this.durable = this.currentPoint();
    await old.close();
    void this.checkpoint();
  }

  /** Syncs what is committed (unless poisoned), checkpoints it, and closes the files. */
  async close(): Promise<void> {
    await this.flush();
    if (this.failure === undefined && this.unsynced) await this.sync().catch(() => undefined);
    if (this.failure === undefined) await this.checkpointer.close(this.durable);
    await this.indexFile.close();
    await this.file.close();
  }

  private currentPoint(): DurablePoint {
    const active = this.state.segments.active;
    return {
      baseSeq: active.baseSeq,
      end: active.bytes,
      tail: this.state.tail,
      total: this.committedTotal,
    };
  }

  /** Removes bytes of a failed write, so they cannot reappear behind later appends. */
  private async cutBack(position: number): Promise<void> {
    try {
      await this.file.truncate(position);
    } catch (err) {
      throw this.poison(err);
    }
  }

  /** The commit log failed to sync: the stream refuses writes until the journal is reopened. */
  fail(err: unknown): TidemarkError {
    return this.poison(err);
  }

  private poison(err: unknown): TidemarkError {
    const cause = fromSystemError(err, "flush", {});
    this.failure ??= new IoError(
      `stream ${JSON.stringify(this.state.name)} cannot be written any more: ${cause.message}. ` +
        "Reopen the journal to recover it.",
      { stream: this.state.name, segment: segmentFileName(this.state.segments.active.baseSeq) },
      err,
    );
    return this.failure;
  }
}
