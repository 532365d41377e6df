/**
 * What a journal does before it opens its streams (docs/format.md §9 row 17, §14.5): clean up
 * what interrupted creates and deletes left in `streams/`, and redo the commit log into the
 * segments. Redo needs to know where each stream id lives, so when the log holds anything every
 * stream's `stream.json` is read first (and handed to the opener, which would read it anyway).
 */
import { join } from "node:path";
import { CorruptError, isErrnoCode } from "../../errors.js";
import { removeTree } from "../fs/file-ops.js";
import type { FileSystem } from "../fs/file-system.js";
import { listLogFiles, type RedoTarget, redoLog } from "../recovery/log-redo.js";
import type { DurableEnd } from "../recovery/recovery.js";
import type { RecoveryReporter } from "../recovery/recovery-event.js";
import { readStreamDescriptor, type StreamDescriptor } from "../stream/stream-descriptor.js";
import { DELETED_STREAM_PREFIX, TMP_STREAM_PREFIX } from "../stream/stream-opener.js";

/** The stream directories to open; temporaries are removed (writer) or skipped (read-only). */
export async function listStreamDirs(
  fs: FileSystem,
  streamsDir: string,
  readOnly: boolean,
  report: RecoveryReporter,
): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(streamsDir);
  } catch (err) {
    if (isErrnoCode(err, "ENOENT") && readOnly) return [];
    throw err;
  }
  const dirs: string[] = [];
  for (const name of names) {
    const temporary = name.startsWith(TMP_STREAM_PREFIX) || name.startsWith(DELETED_STREAM_PREFIX);
    if (!temporary) {
      dirs.push(name);
      continue;
    }
    if (readOnly) continue;
    await removeTree(fs, join(streamsDir, name));
    const what = name.startsWith(TMP_STREAM_PREFIX)
      ? "an interrupted create"
      : "an interrupted delete";
    report({ kind: "removed-temp", path: name, message: `removed ${name}, left by ${what}` });
  }
  return dirs;
}

export interface LogRecovery {
  /** The log files read (kept until a checkpoint has synced what they cover). */
  fileSeqs: number[];
  /** Per stream directory: its descriptor, read for the redo, and its last durable point. */
  streams: Map<string, { descriptor: StreamDescriptor; durableEnd: DurableEnd | undefined }>;
}

/** Redoes the commit log, if it holds anything, into the segments of `dirNames`. */
export async function recoverLog(
  fs: FileSystem,
  journalDir: string,
  streamsDir: string,
  dirNames: readonly string[],
  concurrency: number,
  report: RecoveryReporter,
): Promise<LogRecovery> {
  const fileSeqs = await listLogFiles(fs, journalDir);
  const streams: LogRecovery["streams"] = new Map();
  if (fileSeqs.length === 0) return { fileSeqs, streams };
  const targets = new Map<string, RedoTarget & { dirName: string }>();
  let next = 0;
  const read = async () => {
    while (next < dirNames.length) {
      const dirName = dirNames[next++]!;
      const dir = join(streamsDir, dirName);
      try {
        const descriptor = await readStreamDescriptor(fs, dir, dirName);
        streams.set(dirName, { descriptor, durableEnd: undefined });
        if (descriptor.id !== undefined) {
          targets.set(descriptor.id, { dir, name: descriptor.name, dirName });
        }
      } catch (err) {
        // The opener reports it when it meets the same directory.
        if (!(err instanceof CorruptError) && !isErrnoCode(err, "ENOENT")) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, read));
  const redone = await redoLog(fs, journalDir, fileSeqs, targets, report);
  for (const [id, durableEnd] of redone.durableEnds) {
    const entry = streams.get(targets.get(id)!.dirName);
    if (entry !== undefined) entry.durableEnd = durableEnd;
  }
  return { fileSeqs, streams };
}

/**
 * Opens every stream directory, `concurrency` at a time; a stream that cannot be opened because
 * it is damaged (or vanished) is reported and left out, so one bad stream never keeps the
 * journal shut.
 */
export async function openEach(
  dirNames: readonly string[],
  concurrency: number,
  report: RecoveryReporter,
  open: (dirName: string) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < dirNames.length) {
      const dirName = dirNames[next++]!;
      try {
        await open(dirName);
      } catch (err) {
        if (!(err instanceof CorruptError) && !isErrnoCode(err, "ENOENT")) throw err;
        const message = err instanceof Error ? err.message : String(err);
        report({
          kind: "corrupt",
          path: dirName,
          message: `stream directory ${dirName} not opened: ${message}`,
        });
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
