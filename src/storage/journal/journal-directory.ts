/**
 * The journal directory itself (docs/format.md §1, §2): refusing a directory tidemark does not
 * own, creating a new journal, and checking the format version of an existing one.
 */
import { join } from "node:path";
import {
  CorruptError,
  fromSystemError,
  isErrnoCode,
  NotAJournalError,
  NotFoundError,
  UnsupportedFormatError,
} from "../../errors.js";
import { JOURNAL_FORMAT_VERSION } from "../../format/constants.js";
import { readSmallFile, writeFileAtomic } from "../fs/file-ops.js";
import type { FileSystem } from "../fs/file-system.js";
import type { ResolvedOptions } from "./journal-options.js";

export const DESCRIPTOR_FILE = "tidemark.json";
export const STREAMS_DIR = "streams";
export const LOCK_DIR = "lock";
export const LOG_DIR = "log";

export async function prepareDirectory(
  fs: FileSystem,
  dir: string,
  readOnly: boolean,
): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (!isErrnoCode(err, "ENOENT"))
      throw fromSystemError(err, `open journal directory ${dir}`, { path: dir });
    if (readOnly) throw new NotFoundError(`there is no journal at ${dir}`, { path: dir });
    await makeDirectories(fs, dir);
    return;
  }
  // What another opener creating this journal right now may have made so far is not foreign.
  const ours = new Set([DESCRIPTOR_FILE, `${DESCRIPTOR_FILE}.tmp`, LOCK_DIR, STREAMS_DIR, LOG_DIR]);
  const foreign = names.filter((name) => !ours.has(name));
  if (!names.includes(DESCRIPTOR_FILE) && (foreign.length > 0 || readOnly)) {
    throw new NotAJournalError(
      readOnly
        ? `${dir} holds no tidemark journal (no ${DESCRIPTOR_FILE})`
        : `${dir} is not empty (${foreign.slice(0, 3).join(", ")}${foreign.length > 3 ? ", …" : ""}) and holds no tidemark journal (no ${DESCRIPTOR_FILE}); refusing to write into it`,
      { path: dir },
    );
  }
}

/**
 * Creates `dir` and any missing parents, flushing each parent after the entry is made in it:
 * otherwise a power loss can take a new journal directory away, with everything acknowledged in it.
 */
async function makeDirectories(fs: FileSystem, dir: string): Promise<void> {
  const parent = join(dir, "..");
  if (parent !== dir) {
    try {
      await fs.stat(parent);
    } catch (err) {
      if (!isErrnoCode(err, "ENOENT")) throw err;
      await makeDirectories(fs, parent);
    }
  }
  try {
    await fs.mkdir(dir);
  } catch (err) {
    if (!isErrnoCode(err, "EEXIST")) throw err;
    return;
  }
  if (parent !== dir) await fs.syncDir(parent);
}

/**
 * Checks the journal descriptor (§2), creating it (and `streams/`, `log/`) for a new journal.
 * Resolves with the journal's format: below JOURNAL_FORMAT_VERSION, the writer upgrades it once
 * every stream is open (§10).
 */
export async function checkDescriptor(
  fs: FileSystem,
  dir: string,
  clock: () => number,
  options: ResolvedOptions,
): Promise<number> {
  const durable = options.durability !== "none";
  let raw: Buffer | undefined;
  try {
    raw = await readSmallFile(fs, join(dir, DESCRIPTOR_FILE), 64 * 1024);
  } catch (err) {
    if (!isErrnoCode(err, "ENOENT")) throw err;
  }
  let format = JOURNAL_FORMAT_VERSION;
  if (raw === undefined) {
    if (options.readOnly)
      throw new NotAJournalError(`${dir} holds no tidemark journal`, { path: dir });
    await ensureLogDir(fs, dir);
    await writeJournalDescriptor(fs, dir, clock, durable);
  } else {
    let stored: unknown;
    try {
      stored = (JSON.parse(raw.toString("utf8")) as { format?: unknown }).format;
    } catch {
      stored = undefined;
    }
    if (typeof stored !== "number" || !Number.isInteger(stored) || stored < 1) {
      throw new CorruptError(`${join(dir, DESCRIPTOR_FILE)} is damaged`, { path: dir });
    }
    if (stored > JOURNAL_FORMAT_VERSION) {
      throw new UnsupportedFormatError(
        `the journal at ${dir} uses format ${stored}; this tidemark reads up to ${JOURNAL_FORMAT_VERSION}`,
        { path: dir },
      );
    }
    format = stored;
  }
  if (options.readOnly) return format;
  try {
    await fs.mkdir(join(dir, STREAMS_DIR));
    if (durable) await fs.syncDir(dir);
  } catch (err) {
    if (!isErrnoCode(err, "EEXIST")) throw err;
  }
  return format;
}

/** Writes `tidemark.json` with the current journal format, atomically (§1, §2). */
export async function writeJournalDescriptor(
  fs: FileSystem,
  dir: string,
  clock: () => number,
  durable: boolean,
): Promise<void> {
  const descriptor = JSON.stringify({ format: JOURNAL_FORMAT_VERSION, createdAtMs: clock() });
  await writeFileAtomic(fs, dir, DESCRIPTOR_FILE, Buffer.from(descriptor), durable);
}

/** Creates `log/` (§14) if it is missing, flushed into the journal directory. */
export async function ensureLogDir(fs: FileSystem, dir: string): Promise<void> {
  try {
    await fs.mkdir(join(dir, LOG_DIR));
  } catch (err) {
    if (isErrnoCode(err, "EEXIST")) return;
    throw err;
  }
  await fs.syncDir(dir);
}
