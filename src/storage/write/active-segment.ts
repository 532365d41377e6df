/**
 * The segment a stream appends to (docs/format.md §4): its file, its sparse index file and its
 * checkpoint, and what is durable in it. Only the stream's writer loop calls this, one
 * operation at a time.
 *
 * Crash reasoning: a batch is written past the committed end, so until its write (and, under
 * 'always', its sync) finishes, recovery treats it as a torn tail (§9 rows 3-6), and in-memory
 * state moves only after (`publish`), so readers never see a record that could still vanish. A
 * failed write is cut back off the file; a failed fdatasync poisons the stream (after one the
 * kernel may have dropped the dirty pages, so no later sync could prove anything), and every
 * later append fails until the journal is reopened and recovers.
 */
import { fromSystemError, IoError, type TidemarkError } from "../../errors.js";
import { SEGMENT_HEADER_BYTES } from "../../format/constants.js";
import { segmentFileName } from "../../format/segment-name.js";
import { writevFully } from "../fs/file-ops.js";
import type { FileHandle } from "../fs/file-system.js";
import { IndexFileWriter } from "../index/index-file.js";
import { SparseIndex } from "../index/sparse-index.js";
import { createSegmentFile } from "../stream/segment-file.js";
import type { StreamState } from "../stream/stream-state.js";
import type { PendingAppend } from "./append-encoding.js";
import { Checkpointer, type DurablePoint } from "./checkpointer.js";
import type { WriterHost } from "./writer-host.js";

export class ActiveSegment {
  /** Set by a failed sync or cut-back: the stream refuses writes until reopened. */
  failure: TidemarkError | undefined;
  private indexFile: IndexFileWriter;
  private readonly checkpointer: Checkpointer;
  /** Bytes ever committed by this writer; checkpoints and syncs are measured against it. */
  private committedTotal = 0;
  private durable: DurablePoint;

  constructor(
    private readonly host: WriterHost,
    private readonly state: StreamState,
    private file: FileHandle,
  ) {
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

  /** Committed bytes not yet synced. */
  get dirty(): boolean {
    return this.durable.total !== this.committedTotal;
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

  /** The fdatasync of a commit under 'always': a failure cuts the batch off and poisons. */
  async syncBatch(position: number): Promise<void> {
    try {
      await this.file.datasync();
    } catch (err) {
      await this.cutBack(position);
      throw this.poison(err);
    }
    this.host.counters.syncs++;
  }

  /** Makes everything committed so far durable ('batch' timer, rotation, close). */
  async sync(): Promise<void> {
    const point = this.currentPoint();
    try {
      await this.file.datasync();
    } catch (err) {
      throw this.poison(err);
    }
    this.host.counters.syncs++;
    this.durable = point;
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
    if (durable && this.dirty) await this.sync();
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
    if (durable || !this.dirty) this.durable = this.currentPoint();
    await old.close();
    void this.checkpoint();
  }

  /** Syncs what is committed (unless poisoned), checkpoints it, and closes the files. */
  async close(): Promise<void> {
    if (this.failure === undefined && this.dirty) await this.sync().catch(() => undefined);
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
