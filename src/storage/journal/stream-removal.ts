/**
 * Deleting a stream's directory atomically (docs/format.md §3): it is renamed to a `.del-`
 * name in `streams/` and the directory flushed, which is the step that decides; what is left is
 * garbage, removed by the caller after, or by the next open (journal-startup.ts) if the process
 * dies first. A crash before the rename's flush leaves the stream whole, after it, gone.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fromSystemError } from "../../errors.js";
import type { FileSystem } from "../fs/file-system.js";
import { DELETED_STREAM_PREFIX } from "../stream/stream-opener.js";
import type { StreamState } from "../stream/stream-state.js";
import { STREAMS_DIR } from "./journal-directory.js";
import type { Durability } from "./journal-options.js";

/** Renames the stream's directory out of sight and flushes; returns where it went. */
export async function moveOutOfSight(
  fs: FileSystem,
  journalDir: string,
  state: StreamState,
  durability: Durability,
): Promise<string> {
  const streamsDir = join(journalDir, STREAMS_DIR);
  const graveyard = join(streamsDir, DELETED_STREAM_PREFIX + randomBytes(8).toString("hex"));
  try {
    await fs.rename(state.dir, graveyard);
    if (durability !== "none") await fs.syncDir(streamsDir);
  } catch (err) {
    throw fromSystemError(err, `delete stream ${JSON.stringify(state.name)}`, {
      stream: state.name,
    });
  }
  return graveyard;
}
