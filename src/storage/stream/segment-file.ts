/**
 * Creating a segment file (docs/format.md §4.1): the header is written and, when `durable`,
 * flushed together with the directory entry, so the file exists after a power loss before any
 * record is written into it. A failed create removes what it made.
 */
import { join } from "node:path";
import { encodeSegmentHeader } from "../../format/segment-header.js";
import { segmentFileName } from "../../format/segment-name.js";
import { removeFile, writeFully } from "../fs/file-ops.js";
import type { FileHandle, FileSystem } from "../fs/file-system.js";

export async function createSegmentFile(
  fs: FileSystem,
  dir: string,
  baseSeq: number,
  createdAtMs: number,
  streamTag: number,
  durable: boolean,
): Promise<FileHandle> {
  const path = join(dir, segmentFileName(baseSeq));
  const file = await fs.open(path, "create");
  try {
    await writeFully(file, encodeSegmentHeader(baseSeq, createdAtMs, streamTag), 0);
    if (durable) {
      await file.datasync();
      await fs.syncDir(dir);
    }
    return file;
  } catch (err) {
    await file.close().catch(() => undefined);
    await removeFile(fs, path).catch(() => undefined);
    throw err;
  }
}
