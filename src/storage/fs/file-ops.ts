/**
 * Small operations built on the `FileSystem` interface: full reads and writes (the interface may
 * return short counts), atomic replacement of small files (docs/format.md §1), tree removal.
 */

import { join as joinPath } from "node:path";
import { isErrnoCode } from "../../errors.js";
import type { FileHandle, FileSystem } from "./file-system.js";

/** Writes all of `buf` at `position`, looping over short writes. */
export async function writeFully(
  file: FileHandle,
  buf: Uint8Array,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < buf.byteLength) {
    const written = await file.write(buf, done, buf.byteLength - done, position + done);
    if (written <= 0) throw new Error(`write returned ${written}`);
    done += written;
  }
}

/** Writes the buffers back to back at `position`, finishing any short write piece by piece. */
export async function writevFully(
  file: FileHandle,
  buffers: readonly Uint8Array[],
  position: number,
): Promise<void> {
  let total = 0;
  for (const buf of buffers) total += buf.byteLength;
  const written = await file.writev(buffers, position);
  if (written === total) return;
  if (written < 0) throw new Error(`writev returned ${written}`);
  // Rare (a signal, a full disk, more buffers than IOV_MAX): write the rest one by one.
  let skip = written;
  let at = position + written;
  for (const buf of buffers) {
    if (skip >= buf.byteLength) {
      skip -= buf.byteLength;
      continue;
    }
    const rest = buf.subarray(skip);
    skip = 0;
    await writeFully(file, rest, at);
    at += rest.byteLength;
  }
}

/** Reads up to `length` bytes at `position`; returns the count read (short only at end of file). */
export async function readFully(
  file: FileHandle,
  buf: Uint8Array,
  offset: number,
  length: number,
  position: number,
): Promise<number> {
  let done = 0;
  while (done < length) {
    const got = await file.read(buf, offset + done, length - done, position + done);
    if (got === 0) break;
    done += got;
  }
  return done;
}

/**
 * Reads a whole small file without asking its size first (open, read, close: one call fewer per
 * file, which counts when a journal with thousands of streams opens). Fails past `bytesMax`.
 */
export async function readSmallFile(
  fs: FileSystem,
  path: string,
  bytesMax: number,
  /** The first read's size: one read for a file up to this size. */
  initialBytes = 4096,
): Promise<Buffer> {
  const file = await fs.open(path, "read");
  try {
    let buf = Buffer.allocUnsafe(Math.min(initialBytes, bytesMax + 1));
    let length = 0;
    for (;;) {
      const got = await file.read(buf, length, buf.byteLength - length, length);
      length += got;
      if (got === 0 || length < buf.byteLength) break;
      if (length > bytesMax)
        throw new Error(`${path} is larger than the ${bytesMax} bytes expected`);
      const bigger = Buffer.allocUnsafe(Math.min(buf.byteLength * 4, bytesMax + 1));
      buf.copy(bigger, 0, 0, length);
      buf = bigger;
    }
    if (length > bytesMax) throw new Error(`${path} is larger than the ${bytesMax} bytes expected`);
    return buf.subarray(0, length);
  } finally {
    await file.close();
  }
}

/**
 * Replaces `path` with `data` atomically: write `path.tmp`, flush it, rename, flush the directory.
 * With `durable: false` the flushes are skipped (for hints that are checked when read).
 */
export async function writeFileAtomic(
  fs: FileSystem,
  dir: string,
  name: string,
  data: Uint8Array,
  durable: boolean,
): Promise<void> {
  const tmp = joinPath(dir, `${name}.tmp`);
  const file = await fs.open(tmp, "replace");
  try {
    await writeFully(file, data, 0);
    if (durable) await file.datasync();
  } finally {
    await file.close();
  }
  await fs.rename(tmp, joinPath(dir, name));
  if (durable) await fs.syncDir(dir);
}

/** Opens a file read-write, creating it if it does not exist; never truncates. */
export async function openOrCreate(fs: FileSystem, path: string): Promise<FileHandle> {
  try {
    return await fs.open(path, "write");
  } catch (err) {
    if (!isErrnoCode(err, "ENOENT")) throw err;
  }
  try {
    return await fs.open(path, "create");
  } catch (err) {
    if (!isErrnoCode(err, "EEXIST")) throw err;
    return fs.open(path, "write");
  }
}

/** Removes a directory tree (files and directories), tolerating entries already gone. */
export async function removeTree(fs: FileSystem, path: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(path);
  } catch (err) {
    if (isErrnoCode(err, "ENOENT")) return;
    if (isErrnoCode(err, "ENOTDIR")) return removeFile(fs, path);
    throw err;
  }
  for (const name of names) {
    const child = joinPath(path, name);
    const stat = await statOrUndefined(fs, child);
    if (stat === undefined) continue;
    if (stat.isDirectory) await removeTree(fs, child);
    else await removeFile(fs, child);
  }
  try {
    await fs.rmdir(path);
  } catch (err) {
    if (!isErrnoCode(err, "ENOENT")) throw err;
  }
}

export async function removeFile(fs: FileSystem, path: string): Promise<void> {
  try {
    await fs.unlink(path);
  } catch (err) {
    if (!isErrnoCode(err, "ENOENT")) throw err;
  }
}

export async function statOrUndefined(fs: FileSystem, path: string) {
  try {
    return await fs.stat(path);
  } catch (err) {
    if (isErrnoCode(err, "ENOENT")) return undefined;
    throw err;
  }
}
