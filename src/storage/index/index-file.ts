/**
 * Persistence of sparse indexes (docs/format.md §6). Index files are hints: they are written
 * without flushing, read back only as far as their entries check out, and every entry is
 * verified against the segment when used. So a failure to write one costs speed, never data;
 * it is counted (`failures`) and the next write starts the file over.
 */
import { join } from "node:path";
import { INDEX_HEADER_BYTES } from "../../format/constants.js";
import {
  decodeIndexEntries,
  decodeIndexHeader,
  encodeIndexEntries,
  encodeIndexHeader,
  type IndexEntry,
} from "../../format/index-entry.js";
import { indexFileName } from "../../format/segment-name.js";
import { readSmallFile, writeFileAtomic, writeFully } from "../fs/file-ops.js";
import type { FileHandle, FileSystem } from "../fs/file-system.js";
import type { SparseIndex } from "./sparse-index.js";

/** An index of a 1 GiB segment has 16,384 entries (384 KiB); anything far larger is damage. */
const INDEX_FILE_BYTES_MAX = 64 * 1024 * 1024;

export async function loadIndexFile(
  fs: FileSystem,
  dir: string,
  baseSeq: number,
): Promise<IndexEntry[]> {
  let buf: Buffer;
  try {
    // 64 KiB: the index of a 64 MiB segment (24 KiB) in one read.
    buf = await readSmallFile(
      fs,
      join(dir, indexFileName(baseSeq)),
      INDEX_FILE_BYTES_MAX,
      64 * 1024,
    );
  } catch {
    return []; // missing or unreadable: the index is rebuilt from the segment when needed
  }
  if (decodeIndexHeader(buf) !== baseSeq) return [];
  return decodeIndexEntries(buf.subarray(INDEX_HEADER_BYTES));
}

/**
 * Writes the index file of the active segment as entries are added, one write at a time. The
 * first write after open (or after a failure) rewrites the file from the in-memory index, so the
 * file never keeps entries from a tail that recovery cut.
 */
export class IndexFileWriter {
  private file: FileHandle | undefined;
  private length = 0;
  private queue: IndexEntry[] = [];
  private running: Promise<void> | undefined;
  private rewrite = true;
  failures = 0;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    readonly baseSeq: number,
    private readonly index: SparseIndex,
  ) {}

  append(entry: IndexEntry): void {
    this.queue.push(entry);
    this.running ??= this.drain();
  }

  /** Waits for queued entries to be written, then closes the file. */
  async close(): Promise<void> {
    while (this.running !== undefined) await this.running;
    const file = this.file;
    this.file = undefined;
    await file?.close();
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        await this.write(batch);
      } catch {
        this.failures++;
        this.rewrite = true;
        const file = this.file;
        this.file = undefined;
        await file?.close().catch(() => undefined);
      }
    }
    this.running = undefined;
  }

  private async write(batch: IndexEntry[]): Promise<void> {
    if (this.rewrite || this.file === undefined) {
      // The in-memory index already holds `batch` and anything queued since.
      await this.index.ready();
      this.queue = [];
      const name = indexFileName(this.baseSeq);
      const content = Buffer.concat([
        encodeIndexHeader(this.baseSeq),
        encodeIndexEntries(this.index.entries()),
      ]);
      await writeFileAtomic(this.fs, this.dir, name, content, false);
      this.file = await this.fs.open(join(this.dir, name), "write");
      this.length = content.byteLength;
      this.rewrite = false;
      return;
    }
    const bytes = encodeIndexEntries(batch);
    await writeFully(this.file, bytes, this.length);
    this.length += bytes.byteLength;
  }
}
