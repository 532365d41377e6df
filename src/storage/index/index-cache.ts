/**
 * Sparse indexes of sealed segments, loaded on first use and kept in a bounded LRU (one entry per
 * 64 KiB of data: about 330 KiB of memory per GiB indexed). A missing or damaged index file is
 * rebuilt by scanning its segment once, and written back as a hint.
 */
import { join } from "node:path";
import {
  INDEX_HEADER_BYTES,
  RECORD_BODY_BYTES_LIMIT,
  SEGMENT_HEADER_BYTES,
} from "../../format/constants.js";
import { encodeIndexEntries, encodeIndexHeader } from "../../format/index-entry.js";
import { DECODE_INCOMPLETE, DECODE_OK, RecordView } from "../../format/record.js";
import { indexFileName, segmentFileName } from "../../format/segment-name.js";
import { writeFileAtomic } from "../fs/file-ops.js";
import type { FileSystem } from "../fs/file-system.js";
import { SegmentScanner } from "../read/segment-scanner.js";
import { loadIndexFile } from "./index-file.js";
import { SparseIndex } from "./sparse-index.js";

export class IndexCache {
  private readonly entries = new Map<string, SparseIndex>();

  constructor(
    private readonly fs: FileSystem,
    private readonly capacity: number,
    private readonly readOnly: boolean,
  ) {}

  put(dir: string, baseSeq: number, index: SparseIndex): void {
    const key = join(dir, indexFileName(baseSeq));
    this.entries.delete(key);
    this.entries.set(key, index);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  forget(dir: string, baseSeq: number): void {
    this.entries.delete(join(dir, indexFileName(baseSeq)));
  }

  async get(dir: string, baseSeq: number): Promise<SparseIndex> {
    const key = join(dir, indexFileName(baseSeq));
    const cached = this.entries.get(key);
    if (cached !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, cached);
      return cached;
    }
    const index = new SparseIndex();
    index.load(await loadIndexFile(this.fs, dir, baseSeq));
    if (index.size === 0) await this.rebuild(dir, baseSeq, index);
    this.put(dir, baseSeq, index);
    return index;
  }

  private async rebuild(dir: string, baseSeq: number, index: SparseIndex): Promise<void> {
    const file = await this.fs.open(join(dir, segmentFileName(baseSeq)), "read");
    try {
      const size = await file.size();
      const scanner = new SegmentScanner(
        file,
        SEGMENT_HEADER_BYTES,
        size,
        1024 * 1024,
        RECORD_BODY_BYTES_LIMIT,
      );
      const view = new RecordView();
      let expected = baseSeq;
      for (;;) {
        const at = scanner.position;
        const status = scanner.decode(expected, view);
        if (status === DECODE_OK) {
          index.offer(view.seq, view.timestampMs, at);
          expected++;
          scanner.advance(view);
        } else if (status === DECODE_INCOMPLETE && !scanner.exhausted) {
          await scanner.fill(view.bytesNeeded);
        } else {
          break; // damage stops the index here; reads report it when they reach it
        }
      }
    } finally {
      await file.close();
    }
    if (this.readOnly || index.size === 0) return;
    const content = Buffer.concat([
      encodeIndexHeader(baseSeq),
      encodeIndexEntries(index.entries()),
    ]);
    if (content.byteLength > INDEX_HEADER_BYTES) {
      await writeFileAtomic(this.fs, dir, indexFileName(baseSeq), content, false).catch(
        () => undefined,
      );
    }
  }
}
