/**
 * Building a whole stream from records that already have their seqs and timestamps (an archive
 * made by `tidemark export`, or a log tidemark replaces): the stream directory is written in
 * `.tmp-<hex>` (stream.json, segments, their indexes, a checkpoint), flushed, and renamed into
 * place, like any new stream (docs/format.md §3), so a crash leaves no stream or a whole one.
 *
 * Records go straight into segment files, in large writes, without the writer loop: an import
 * is bounded by the disk and the CRC, not by group commit. Seqs keep their values; a gap between
 * two records starts a new segment and is recorded as lost (lost-ranges.ts), since a segment
 * holds contiguous seqs (§4). Timestamps must not decrease (§4.2): the caller checks its input.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import {
  fromSystemError,
  InvalidArgumentError,
  RecordTooLargeError,
  TidemarkError,
} from "../../errors.js";
import { encodeCheckpoint } from "../../format/checkpoint.js";
import {
  FORMAT_VERSION,
  INDEX_INTERVAL_BYTES,
  RECORD_FLAG_COMMIT,
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
  U64_SAFE_LIMIT,
} from "../../format/constants.js";
import {
  encodeIndexEntries,
  encodeIndexHeader,
  type IndexEntry,
} from "../../format/index-entry.js";
import { encodeRecord } from "../../format/record.js";
import { encodeSegmentHeader } from "../../format/segment-header.js";
import { indexFileName, segmentFileName } from "../../format/segment-name.js";
import { removeTree, writeFileAtomic, writeFully } from "../fs/file-ops.js";
import type { FileHandle } from "../fs/file-system.js";
import { limitsToJson, resolveLimits } from "../retention/stream-limits.js";
import { type LostRange, mergeLostRanges } from "./lost-ranges.js";
import type { StreamDescriptor } from "./stream-descriptor.js";
import { writeStreamDescriptor } from "./stream-descriptor.js";
import { CHECKPOINT_FILE } from "./stream-files.js";
import { streamIdentity } from "./stream-name.js";
import {
  newStreamId,
  type OpenerContext,
  type StreamInit,
  TMP_STREAM_PREFIX,
} from "./stream-opener.js";

/** Bytes gathered before one write to the segment file. */
const WRITE_CHUNK_BYTES = 1024 * 1024;

export interface ImportedRecord {
  seq: number;
  timestamp: number;
  payload: Uint8Array;
  attributes?: Uint8Array | undefined;
}

export interface StreamImportInit extends StreamInit {
  /** When the stream was created (ms); the first segment's header time is at most this. */
  createdAtMs: number;
}

export interface ImportSummary {
  records: number;
  bytes: number;
  firstSeq: number;
  lastSeq: number;
  lost: LostRange[];
}

interface OpenSegment {
  baseSeq: number;
  file: FileHandle;
  /** Bytes in the file plus the chunk not yet written. */
  bytes: number;
  written: number;
  index: IndexEntry[];
  nextIndexAt: number;
  lastRecordOffset: number;
  lastRecordCrc: number;
}

export class StreamImport {
  private segment: OpenSegment | undefined;
  private chunk = Buffer.allocUnsafe(WRITE_CHUNK_BYTES);
  private chunkBytes = 0;
  private nextSeq = 0;
  private lastTimestampMs = 0;
  /** Whether the last record added ends an atomic append (has COMMIT set). */
  private lastCommitted = true;
  private lost: LostRange[] = [];
  private records = 0;
  private bytes = 0;
  private firstSeq = 0;
  private finished = false;
  /** Sealed segments being flushed and closed while the next one is written. */
  private sealing: Array<Promise<void>> = [];

  private constructor(
    private readonly ctx: OpenerContext,
    readonly name: string,
    private readonly tmp: string,
    private readonly init: StreamImportInit,
    private readonly tag: number,
  ) {}

  /** Starts building stream `name` in a temporary directory of the journal's streams/. */
  static async begin(
    ctx: OpenerContext,
    name: string,
    init: StreamImportInit,
  ): Promise<StreamImport> {
    if (!Number.isSafeInteger(init.createdAtMs) || init.createdAtMs < 0) {
      throw new InvalidArgumentError("an imported stream needs createdAtMs (ms since the epoch)");
    }
    if (init.limits !== undefined) resolveLimits(init.limits, { stream: name });
    const tmp = join(ctx.streamsDir, TMP_STREAM_PREFIX + randomBytes(8).toString("hex"));
    try {
      await ctx.fs.mkdir(tmp);
    } catch (err) {
      throw fromSystemError(err, `import stream ${JSON.stringify(name)}`, { stream: name });
    }
    return new StreamImport(ctx, name, tmp, init, streamIdentity(name).tag);
  }

  /**
   * Adds one record. Seqs must increase (a gap is recorded as lost) and timestamps must not
   * decrease. Returns a promise only when a write is needed: await it before the next add.
   */
  add(record: ImportedRecord): Promise<void> | undefined {
    const attrBytes = record.attributes?.byteLength ?? 0;
    const size = RECORD_HEADER_BYTES + attrBytes + record.payload.byteLength;
    const room = this.ctx.options.segmentBytesMax - SEGMENT_HEADER_BYTES;
    this.check(record.seq, record.timestamp, size, room);
    if (
      this.segment === undefined ||
      record.seq !== this.nextSeq ||
      this.segment.bytes + size > this.ctx.options.segmentBytesMax
    ) {
      return this.rotate(record.seq, record.timestamp).then(() => this.add(record));
    }
    if (this.chunkBytes + size > this.chunk.byteLength) {
      return this.flush(size).then(() => this.add(record));
    }
    const at = this.chunkBytes;
    this.chunkBytes = encodeRecord(
      this.chunk,
      at,
      record.seq,
      record.timestamp,
      RECORD_FLAG_COMMIT,
      record.attributes,
      record.payload,
      record.payload.byteLength,
    );
    this.placed(record.seq, record.timestamp, size, this.chunk.readUInt32LE(at));
    this.lastCommitted = true;
    return undefined;
  }

  /**
   * Adds one record already encoded as docs/format.md §4.2 (`bytes`, CRC checked by the caller):
   * copied as it is, its COMMIT flag included.
   */
  addEncoded(bytes: Uint8Array, seq: number, timestampMs: number): Promise<void> | undefined {
    const room = this.ctx.options.segmentBytesMax - SEGMENT_HEADER_BYTES;
    this.check(seq, timestampMs, bytes.byteLength, room);
    if (
      this.segment === undefined ||
      seq !== this.nextSeq ||
      this.segment.bytes + bytes.byteLength > this.ctx.options.segmentBytesMax
    ) {
      return this.rotate(seq, timestampMs).then(() => this.addEncoded(bytes, seq, timestampMs));
    }
    if (this.chunkBytes + bytes.byteLength > this.chunk.byteLength) {
      return this.flush(bytes.byteLength).then(() => this.addEncoded(bytes, seq, timestampMs));
    }
    this.chunk.set(bytes, this.chunkBytes);
    const crc = this.chunk.readUInt32LE(this.chunkBytes);
    this.chunkBytes += bytes.byteLength;
    this.placed(seq, timestampMs, bytes.byteLength, crc);
    this.lastCommitted = (bytes[24]! & RECORD_FLAG_COMMIT) !== 0;
    return undefined;
  }

  /**
   * Writes what is left, the indexes and the checkpoint, flushes it all and renames the stream
   * into place. `lastSeq` (at least the last record's) is the stream's last seq: seqs after the
   * last record up to it are recorded as lost, and the next append gets `lastSeq + 1`. Returns
   * the directory name; the journal then opens it. Fails with STREAM_EXISTS if the stream exists.
   */
  async finish(lastSeq?: number): Promise<{ dirName: string; summary: ImportSummary }> {
    const last = lastSeq ?? (this.records === 0 ? 0 : this.nextSeq - 1);
    const held = this.records === 0 ? 0 : this.nextSeq - 1;
    if (!Number.isSafeInteger(last) || last < held) {
      throw new InvalidArgumentError(
        `lastSeq ${String(lastSeq)} is below the last record imported (${held})`,
      );
    }
    const { fs, streamsDir, options } = this.ctx;
    const durable = options.durability !== "none";
    const identity = streamIdentity(this.name);
    try {
      if (this.segment === undefined || last > held || !this.lastCommitted) {
        // An empty stream, one whose newest seqs are lost (rotate records them), or one whose
        // last record ends no atomic append (recovery would cut it from an active segment, §4.3):
        // an empty active segment after them.
        await this.rotate(last + 1, this.lastTimestampMs);
      }
      const active = this.segment!;
      await this.flush(0);
      await this.closeSegment(active, durable);
      await this.sealed();
      await writeFileAtomic(
        fs,
        this.tmp,
        CHECKPOINT_FILE,
        encodeCheckpoint({
          segmentBaseSeq: active.baseSeq,
          lastRecordOffset: active.lastRecordOffset,
          endOffset: active.bytes,
          lastSeq: active.lastRecordOffset === 0 ? active.baseSeq - 1 : this.nextSeq - 1,
          lastTimestampMs: this.lastTimestampMs,
          lastRecordCrc: active.lastRecordCrc,
        }),
        false,
      );
      const descriptor: StreamDescriptor = {
        format: FORMAT_VERSION,
        name: this.name,
        id: newStreamId(),
        createdAtMs: this.init.createdAtMs,
        meta: this.init.meta ?? {},
      };
      if (this.init.limits !== undefined)
        descriptor.limits = limitsToJson(resolveLimits(this.init.limits));
      if (this.init.retention !== undefined) descriptor.retention = this.init.retention;
      if (this.lost.length > 0) descriptor.lost = this.lost;
      await writeStreamDescriptor(fs, this.tmp, descriptor, durable);
      if (durable) await fs.syncDir(this.tmp);
      await fs.rename(this.tmp, join(streamsDir, identity.dirName));
      if (durable) await fs.syncDir(streamsDir);
    } catch (err) {
      await this.abort();
      if (
        (err as NodeJS.ErrnoException).code === "ENOTEMPTY" ||
        (err as NodeJS.ErrnoException).code === "EEXIST"
      ) {
        throw new TidemarkError(
          "STREAM_EXISTS",
          `stream ${JSON.stringify(this.name)} already exists`,
          {
            stream: this.name,
          },
        );
      }
      throw fromSystemError(err, `import stream ${JSON.stringify(this.name)}`, {
        stream: this.name,
      });
    }
    this.finished = true;
    return {
      dirName: identity.dirName,
      summary: {
        records: this.records,
        bytes: this.bytes,
        firstSeq: this.records === 0 ? last + 1 : this.firstSeq,
        lastSeq: last,
        lost: this.lost,
      },
    };
  }

  /** Removes what was built (an import that failed part way leaves nothing). */
  async abort(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await Promise.allSettled(this.sealing);
    await this.segment?.file.close().catch(() => undefined);
    this.segment = undefined;
    await removeTree(this.ctx.fs, this.tmp).catch(() => undefined);
  }

  private check(seq: number, timestampMs: number, size: number, room: number): void {
    if (this.finished) throw new InvalidArgumentError("the import is finished");
    if (!Number.isSafeInteger(seq) || seq < 1 || (this.records > 0 && seq < this.nextSeq)) {
      throw new InvalidArgumentError(
        `seq ${seq} of an imported record must be above ${this.records > 0 ? this.nextSeq - 1 : 0}`,
        { stream: this.name },
      );
    }
    if (
      !Number.isSafeInteger(timestampMs) ||
      timestampMs < this.lastTimestampMs ||
      timestampMs > U64_SAFE_LIMIT
    ) {
      throw new InvalidArgumentError(
        `timestamp ${timestampMs} of seq ${seq} is below the previous record's (${this.lastTimestampMs})`,
        { stream: this.name },
      );
    }
    if (size > room) {
      throw new RecordTooLargeError(
        `seq ${seq} takes ${size} bytes, more than a segment of this journal holds (${room})`,
        { stream: this.name, bytes: size },
      );
    }
  }

  /** Bookkeeping after a record was put in the chunk at the segment's end. */
  private placed(seq: number, timestampMs: number, size: number, crc: number): void {
    const segment = this.segment!;
    const offset = segment.bytes;
    if (offset >= segment.nextIndexAt) {
      segment.index.push({ seq, timestampMs, offset });
      segment.nextIndexAt = offset + INDEX_INTERVAL_BYTES;
    }
    segment.lastRecordOffset = offset;
    segment.lastRecordCrc = crc;
    segment.bytes += size;
    if (this.records === 0) this.firstSeq = seq;
    this.records++;
    this.bytes += size;
    this.nextSeq = seq + 1;
    this.lastTimestampMs = timestampMs;
  }

  /**
   * Starts a new segment at `baseSeq`, after writing and closing the current one. Its header time
   * (§4.1) is the last record's before it, or for the first segment the stream's creation time,
   * unless the first record (stamped `firstTimestampMs`) is older.
   */
  private async rotate(baseSeq: number, firstTimestampMs: number): Promise<void> {
    const { fs, options } = this.ctx;
    const durable = options.durability !== "none";
    const previous = this.segment;
    if (previous !== undefined) {
      if (baseSeq > this.nextSeq) this.addLost(this.nextSeq, baseSeq - 1);
      await this.flush(0);
      // Flushed in the background (bounded: two at a time) while the next segment fills.
      if (this.sealing.length >= 2) await this.sealed();
      const closing = this.closeSegment(previous, durable);
      closing.catch(() => undefined); // handled: sealed() reports it
      this.sealing.push(closing);
    }
    const createdAtMs =
      this.records === 0
        ? Math.min(this.init.createdAtMs, firstTimestampMs || this.init.createdAtMs)
        : this.lastTimestampMs;
    const file = await fs.open(join(this.tmp, segmentFileName(baseSeq)), "create");
    await writeFully(file, encodeSegmentHeader(baseSeq, createdAtMs, this.tag), 0);
    this.segment = {
      baseSeq,
      file,
      bytes: SEGMENT_HEADER_BYTES,
      written: SEGMENT_HEADER_BYTES,
      index: [],
      nextIndexAt: SEGMENT_HEADER_BYTES,
      lastRecordOffset: 0,
      lastRecordCrc: 0,
    };
    this.nextSeq = baseSeq;
  }

  private addLost(first: number, last: number): void {
    this.lost = mergeLostRanges(this.lost, [[first, last]]);
  }

  /** Writes the chunk to the segment; makes room for `next` bytes (a larger chunk if needed). */
  private async flush(next: number): Promise<void> {
    const segment = this.segment;
    if (segment !== undefined && this.chunkBytes > 0) {
      await writeFully(segment.file, this.chunk.subarray(0, this.chunkBytes), segment.written);
      segment.written += this.chunkBytes;
    }
    this.chunkBytes = 0;
    if (next > this.chunk.byteLength) this.chunk = Buffer.allocUnsafe(next);
  }

  /** Waits for the sealed segments being flushed; the first failure is thrown. */
  private async sealed(): Promise<void> {
    const sealing = this.sealing;
    this.sealing = [];
    const results = await Promise.allSettled(sealing);
    for (const result of results) if (result.status === "rejected") throw result.reason;
  }

  private async closeSegment(segment: OpenSegment, durable: boolean): Promise<void> {
    if (durable) await segment.file.datasync();
    await segment.file.close();
    const index = Buffer.concat([
      encodeIndexHeader(segment.baseSeq),
      encodeIndexEntries(segment.index),
    ]);
    await writeFileAtomic(this.ctx.fs, this.tmp, indexFileName(segment.baseSeq), index, false);
  }
}
