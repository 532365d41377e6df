/**
 * Cutting a damaged tail (docs/format.md §9 rows 3-7) and keeping unusable files out of the way
 * (row 15). When intact records sit behind damage they may have been acknowledged, so the cut
 * bytes are saved under `quarantine/` before the cut: nothing is dropped without a copy.
 */
import { join } from "node:path";
import { isErrnoCode } from "../../errors.js";
import { RECORD_BODY_BYTES_LIMIT } from "../../format/constants.js";
import { readFully, writeFully } from "../fs/file-ops.js";
import type { FileHandle, FileSystem } from "../fs/file-system.js";
import { QUARANTINE_DIR } from "../stream/stream-files.js";
import { findNextValidRecord } from "./resync.js";
import type { ScannedTail, TailScanOptions } from "./tail-scan.js";

/**
 * Cuts the active segment back to `end` (rows 3-7). When intact records sit behind the damage,
 * the cut bytes are saved to quarantine first. Damage at or past `unsyncedFrom` (the stream's
 * last durable point, from the commit log) lies where nothing was ever made durable: a torn
 * tail of an ordinary crash or power loss (row 29), reported as one, bytes still kept.
 */
export async function cutTail(
  options: TailScanOptions,
  file: FileHandle,
  segment: string,
  scanned: ScannedTail,
  unsyncedFrom?: number,
): Promise<void> {
  const { fs, dir, name, report } = options;
  const { end, size, stoppedAt } = scanned;
  const lastSeq = scanned.tail.lastSeq;
  const bytes = size - end;
  const hit = await findNextValidRecord(
    file,
    stoppedAt + 1,
    size,
    lastSeq,
    RECORD_BODY_BYTES_LIMIT,
  );
  if (hit === undefined) {
    report({
      kind: "torn-tail",
      stream: name,
      segment,
      offset: end,
      bytes,
      message: `cut ${bytes} bytes after the last complete append at offset ${end} of ${segment}`,
    });
  } else {
    const saved = await saveToQuarantine(fs, dir, file, `${segment}-${end}.bin`, end, bytes);
    if (unsyncedFrom !== undefined && stoppedAt >= unsyncedFrom) {
      report({
        kind: "torn-tail",
        stream: name,
        segment,
        offset: end,
        bytes,
        path: saved,
        message:
          `cut ${bytes} bytes of writes that were never made durable (past the last logged ` +
          `append, offset ${unsyncedFrom}) at offset ${end} of ${segment}; a power loss left ` +
          `parts of them. They were saved to ${saved}`,
      });
      await file.truncate(end);
      await file.datasync();
      return;
    }
    report({
      kind: "corrupt",
      stream: name,
      segment,
      offset: end,
      bytes,
      firstSeq: lastSeq + 1,
      path: saved,
      message:
        `damaged data at offset ${stoppedAt} of ${segment} with intact records behind it ` +
        `(from seq ${hit.seq}); the log now ends at seq ${lastSeq} and the ${bytes} bytes cut ` +
        `were saved to ${saved}`,
    });
  }
  await file.truncate(end);
  await file.datasync();
}

/** Copies `bytes` at `offset` of `file` to `quarantine/<name>`, flushed; returns its path. */
async function saveToQuarantine(
  fs: FileSystem,
  dir: string,
  file: FileHandle,
  name: string,
  offset: number,
  bytes: number,
): Promise<string> {
  const quarantine = await quarantineDir(fs, dir);
  const saved = join(quarantine, name);
  const copy = Buffer.allocUnsafe(bytes);
  const got = await readFully(file, copy, 0, bytes, offset);
  const out = await fs.open(saved, "replace");
  try {
    await writeFully(out, copy.subarray(0, got), 0);
    await out.datasync();
  } finally {
    await out.close();
  }
  await fs.syncDir(quarantine);
  await fs.syncDir(dir);
  return saved;
}

async function quarantineDir(fs: FileSystem, dir: string): Promise<string> {
  const quarantine = join(dir, QUARANTINE_DIR);
  try {
    await fs.mkdir(quarantine);
  } catch (err) {
    if (!isErrnoCode(err, "EEXIST")) throw err;
  }
  return quarantine;
}

/** Moves a file that must not be used out of the way, so new segments never collide with it. */
export async function moveToQuarantine(fs: FileSystem, dir: string, file: string): Promise<string> {
  const target = join(await quarantineDir(fs, dir), `${file}.${Date.now()}`);
  await fs.rename(join(dir, file), target);
  await fs.syncDir(dir);
  return target;
}
