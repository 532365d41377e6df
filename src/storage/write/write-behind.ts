/**
 * Segment writes behind the commit log (docs/format.md §14.3). Once the log has made a group
 * durable, the group's bytes are acknowledged and readable at once, but they reach the stream's
 * segment later, many groups in one pwritev: per-append segment writes through libuv's thread
 * pool top out at about 40-60k/s on this machine (measured: 130-byte pwrites spread over 1,000
 * files, 256 in flight), while the log alone does 130k+ appends/s. Until they are written, the
 * bytes wait here, and readers of the journal see them through `overlay()`, a file system whose
 * read handles fill in pending bytes, so every reader reads one consistent segment.
 *
 * A crash before the write loses nothing: the log holds the bytes and recovery writes them
 * (§14.5). A pending region is always the tail of its segment, directly after the bytes
 * written: [start, start + bytes).
 */
import type { FileHandle, FileStat, FileSystem, OpenMode } from "../fs/file-system.js";

interface Pending {
  /** Segment offset of the first pending byte (the end of what is written). */
  start: number;
  parts: Uint8Array[];
  bytes: number;
}

/**
 * Segment writes per second that staged bytes may cost, across streams. Measured here,
 * per-stream writes every 100 ms over 1,000 streams (10k small pwrites/s) kept libuv's threads
 * so busy that the log's own writes queued behind them and appends ran at 25k/s. With this
 * budget a quiet stream's bytes are written right after their commit, and 1,000 busy streams'
 * every half second.
 */
const FLUSHES_PER_SECOND_MAX = 2000;

/** Staged bytes of one segment that are written at once, without waiting their turn. */
export const FLUSH_BYTES_MIN = 256 * 1024;

export class PendingWrites {
  private readonly bySegment = new Map<string, Pending>();
  /** Pending bytes across all segments (the journal bounds them). */
  totalBytes = 0;

  /** Adds `parts`, which go at `position` of the segment at `path` (right after what is pending). */
  add(path: string, position: number, parts: readonly Uint8Array[], bytes: number): void {
    const pending = this.bySegment.get(path);
    if (pending === undefined) {
      this.bySegment.set(path, { start: position, parts: [...parts], bytes });
    } else {
      if (pending.start + pending.bytes !== position) {
        throw new Error(`pending writes of ${path} are not contiguous`);
      }
      for (const part of parts) pending.parts.push(part);
      pending.bytes += bytes;
    }
    this.totalBytes += bytes;
  }

  /** What is pending for `path`: the parts to write and where (undefined if nothing). */
  peek(path: string): Readonly<Pending> | undefined {
    return this.bySegment.get(path);
  }

  /** The first `parts` parts (`bytes` bytes) of `path`'s pending region were written. */
  written(path: string, parts: number, bytes: number): Uint8Array[] {
    const pending = this.bySegment.get(path)!;
    const done = pending.parts.splice(0, parts);
    pending.start += bytes;
    pending.bytes -= bytes;
    this.totalBytes -= bytes;
    if (pending.parts.length === 0) this.bySegment.delete(path);
    return done;
  }

  /**
   * Copies pending bytes of `path` at `[position, position + length)` into `target`, from the
   * start of that range as far as they reach. Returns how many bytes, from `position`, are in
   * `target` now (0 when the range starts before the pending region or past it).
   */
  copyInto(path: string, position: number, target: Uint8Array, offset: number, length: number) {
    const pending = this.bySegment.get(path);
    if (pending === undefined || position < pending.start) return 0;
    let skip = position - pending.start;
    let copied = 0;
    for (const part of pending.parts) {
      if (copied === length) break;
      if (skip >= part.byteLength) {
        skip -= part.byteLength;
        continue;
      }
      const take = Math.min(part.byteLength - skip, length - copied);
      target.set(part.subarray(skip, skip + take), offset + copied);
      copied += take;
      skip = 0;
    }
    return copied;
  }

  /** How long a stream's staged bytes may wait for their write: the budget shared by all. */
  flushIntervalMs(): number {
    return (this.bySegment.size * 1000) / FLUSHES_PER_SECOND_MAX;
  }

  /** The start of `path`'s pending region, or undefined. */
  startOf(path: string): number | undefined {
    return this.bySegment.get(path)?.start;
  }

  /** The end of `path`'s pending region, or undefined. */
  endOf(path: string): number | undefined {
    const pending = this.bySegment.get(path);
    return pending === undefined ? undefined : pending.start + pending.bytes;
  }
}

/**
 * `fs` for readers: files opened for reading see the pending bytes of their segment as if they
 * were written. Everything else goes straight to `fs`.
 */
export function overlay(fs: FileSystem, pending: PendingWrites): FileSystem {
  return {
    open: async (path: string, mode: OpenMode): Promise<FileHandle> => {
      const file = await fs.open(path, mode);
      return mode === "read" ? new OverlayHandle(file, path, pending) : file;
    },
    readdir: (path) => fs.readdir(path),
    mkdir: (path) => fs.mkdir(path),
    rename: (from, to) => fs.rename(from, to),
    link: (existing, newPath) => fs.link(existing, newPath),
    unlink: (path) => fs.unlink(path),
    rmdir: (path) => fs.rmdir(path),
    stat: async (path): Promise<FileStat> => {
      const stat = await fs.stat(path);
      const end = pending.endOf(path);
      return end === undefined ? stat : { ...stat, size: Math.max(stat.size, end) };
    },
    syncDir: (path) => fs.syncDir(path),
    freeBytes: (path) => fs.freeBytes(path),
  };
}

class OverlayHandle implements FileHandle {
  constructor(
    private readonly file: FileHandle,
    private readonly path: string,
    private readonly pending: PendingWrites,
  ) {}

  /**
   * Reads the file, then fills in pending bytes. The copy happens in the same turn as the check
   * of what is pending (so a buffer cannot be reused for another append in between); if a write
   * landed while the file was being read, the bytes it wrote are read from the file again.
   */
  async read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<number> {
    let got = await this.file.read(buffer, offset, length, position);
    while (got < length) {
      const start = this.pending.startOf(this.path);
      if (start === undefined) return got;
      if (start > position + got) {
        const more = await this.file.read(buffer, offset + got, length - got, position + got);
        if (more === 0) return got;
        got += more;
        continue;
      }
      return (
        got + this.pending.copyInto(this.path, position + got, buffer, offset + got, length - got)
      );
    }
    return got;
  }

  write(): Promise<number> {
    return Promise.reject(new Error("a read handle cannot write"));
  }

  writev(): Promise<number> {
    return Promise.reject(new Error("a read handle cannot write"));
  }

  datasync(): Promise<void> {
    return this.file.datasync();
  }

  truncate(): Promise<void> {
    return Promise.reject(new Error("a read handle cannot truncate"));
  }

  async size(): Promise<number> {
    const size = await this.file.size();
    return Math.max(size, this.pending.endOf(this.path) ?? 0);
  }

  close(): Promise<void> {
    return this.file.close();
  }
}
