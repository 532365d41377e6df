/**
 * Sequential decoding of one segment file between two byte positions, in chunks. Decoding is
 * synchronous over the current chunk; only a refill awaits the disk, so reading costs one read
 * call per chunk, not per record. A refill allocates a fresh chunk because records already
 * handed out keep views into the previous one; memory stays bounded by the chunk size plus the
 * largest record. With a `scratch` holder the reader has promised to be done with every record
 * it was given before asking for more, so a refill reads into the same buffer again (no garbage
 * per chunk: a catch-up read of gigabytes allocates one buffer).
 */
import {
  DECODE_INCOMPLETE,
  type DecodeStatus,
  decodeRecord,
  type RecordView,
} from "../../format/record.js";
import { readFully } from "../fs/file-ops.js";
import type { FileHandle } from "../fs/file-system.js";

const INITIAL_CHUNK_BYTES = 16 * 1024;
const CARRY_COPY_BYTES_MAX = 64 * 1024;

/** A buffer reused by the refills of one read (see the module comment). */
export interface ScanBuffer {
  buf: Buffer | undefined;
}

export class SegmentScanner {
  private buf: Buffer = Buffer.alloc(0);
  /** File position of buf[0]. */
  private bufPosition: number;
  private bufLength = 0;
  /** Index in buf of the next record to decode. */
  private at = 0;
  private eof = false;
  /** Reads start small and grow while they come back full, up to `chunkBytes`: a scan of a
   * short tail (most recoveries) then allocates kilobytes, not a whole chunk. */
  private nextChunkBytes: number;

  constructor(
    private readonly file: FileHandle,
    position: number,
    /** Decoding stops here (exclusive): the committed end, or the file size. */
    private readonly end: number,
    private readonly chunkBytes: number,
    private readonly maxBodyBytes: number,
    private readonly scratch?: ScanBuffer,
  ) {
    this.bufPosition = position;
    this.nextChunkBytes = Math.min(chunkBytes, INITIAL_CHUNK_BYTES);
  }

  get buffer(): Buffer {
    return this.buf;
  }

  /** File position of the next undecoded byte. */
  get position(): number {
    return this.bufPosition + this.at;
  }

  /** The file's size, once a read has reached its end; undefined before. */
  get fileSize(): number | undefined {
    return this.eof ? this.bufPosition + this.bufLength : undefined;
  }

  /** True when every byte up to `end` (or to the end of the file) is in the buffer. */
  get exhausted(): boolean {
    return this.eof || this.bufPosition + this.bufLength >= this.end;
  }

  /**
   * Decodes the record at the current position. `DECODE_INCOMPLETE` with `exhausted` false
   * means: call `fill(view.bytesNeeded)` and try again. On success call `advance(view)`.
   */
  decode(expectedSeq: number, view: RecordView): DecodeStatus {
    const status = decodeRecord(
      this.buf,
      this.at,
      this.bufLength,
      expectedSeq,
      view,
      this.maxBodyBytes,
    );
    if (status === DECODE_INCOMPLETE && this.bufPosition + this.at >= this.end) {
      view.reason = "end of data";
    }
    return status;
  }

  advance(view: RecordView): void {
    this.at = view.end;
  }

  /** Moves to `position` (which must be at or after the current one), dropping buffered data. */
  seek(position: number): void {
    this.bufPosition = position;
    this.buf = Buffer.alloc(0);
    this.bufLength = 0;
    this.at = 0;
    this.eof = false;
  }

  /** Reads more so that at least `bytesNeeded` bytes from the current position are buffered. */
  async fill(bytesNeeded: number): Promise<void> {
    const start = this.position;
    const available = this.end - start;
    const size = Math.min(Math.max(this.nextChunkBytes, bytesNeeded), Math.max(available, 0));
    const next = this.chunkFor(size);
    // The undecoded rest of the chunk is carried into the new one: copied when small, read again
    // when large (a large record cut by the chunk's end), so the copy runs in the kernel, off
    // the event loop, and from the page cache it has just been read from.
    let carried = this.bufLength - this.at;
    if (carried <= CARRY_COPY_BYTES_MAX) {
      if (next.buffer === this.buf.buffer && next.byteOffset === this.buf.byteOffset) {
        // The same memory (a reused scratch buffer): move the rest to its front, within the old
        // view (the new one may be shorter than where the rest sits).
        this.buf.copyWithin(0, this.at, this.bufLength);
      } else {
        this.buf.copy(next, 0, this.at, this.bufLength);
      }
    } else {
      carried = 0;
    }
    const got = await readFully(this.file, next, carried, size - carried, start + carried);
    if (carried + got < size) this.eof = true;
    else this.nextChunkBytes = Math.min(this.nextChunkBytes * 4, this.chunkBytes);
    this.buf = next;
    this.bufPosition = start;
    this.bufLength = carried + got;
    this.at = 0;
  }

  /** A buffer of at least `size` bytes for the next chunk: the scratch one if there is one. */
  private chunkFor(size: number): Buffer {
    if (this.scratch === undefined) return Buffer.allocUnsafe(size);
    const held = this.scratch.buf;
    if (held !== undefined && held.byteLength >= size) return held.subarray(0, size);
    const fresh = Buffer.allocUnsafe(Math.max(size, this.chunkBytes));
    this.scratch.buf = fresh;
    return fresh.subarray(0, size);
  }
}
