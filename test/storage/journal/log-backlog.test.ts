/**
 * What a recovery must redo stays bounded when checkpoints fall behind (docs/format.md §14.4):
 * segment syncs are slowed (a disk where each one takes 20 ms) while 200 streams are filled as
 * fast as the commit log takes them, so every checkpoint lasts seconds and the log would pile
 * up file after file. New appends wait instead once two checkpoints are queued or running: the
 * log directory never holds more than the active file and three older ones, every append is
 * acknowledged, and after a reopen everything reads back.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Journal } from "../../../src/index.js";
import { type FileHandle, type FileSystem, NodeFileSystem } from "../../../src/storage/index.js";
import { tempDir } from "../../support/tmp-dir.js";

const SEGMENT_SYNC_DELAY_MS = 20;
const LOG_FILE_BYTES = 64 * 1024;
const STREAMS = 200;
const ROUNDS = 20;

/** The real file system, with every fdatasync of a segment file taking 20 ms longer. */
function slowSegmentSyncs(): FileSystem {
  const real = new NodeFileSystem();
  return new Proxy(real, {
    get(target, key, receiver) {
      if (key !== "open") return Reflect.get(target, key, receiver);
      return async (path: string, mode: Parameters<FileSystem["open"]>[1]) => {
        const file = await target.open(path, mode);
        if (!path.endsWith(".seg")) return file;
        return new Proxy(file, {
          get(handle, name, r) {
            if (name !== "datasync") return Reflect.get(handle, name, r);
            return async () => {
              await new Promise((resolve) => setTimeout(resolve, SEGMENT_SYNC_DELAY_MS));
              return handle.datasync();
            };
          },
        }) as FileHandle;
      };
    },
  });
}

describe("the commit log under a write load its checkpoints cannot keep up with", () => {
  it("holds new appends back instead of growing the log without bound", async () => {
    const dir = tempDir("tidemark-log-backlog");
    const journal = await Journal.open(dir, {
      fs: slowSegmentSyncs(),
      logFileBytesMax: LOG_FILE_BYTES,
    });
    const streams = await Promise.all(
      Array.from({ length: STREAMS }, (_, i) => journal.stream(`s/${i}`)),
    );
    let mostLogFiles = 0;
    const count = () => {
      mostLogFiles = Math.max(mostLogFiles, readdirSync(join(dir, "log")).length);
    };
    const sampler = setInterval(count, 5);
    const batch = Array.from({ length: 10 }, (_, i) => `record ${i} ${"x".repeat(80)}`);
    for (let round = 0; round < ROUNDS; round++) {
      await Promise.all(streams.map((stream) => stream.appendMany(batch)));
      count();
    }
    clearInterval(sampler);
    await journal.close();
    // 20 rounds × 200 streams × ~1.2 KB is ~4.8 MB: 75 log files' worth without the bound.
    expect(mostLogFiles).toBeLessThanOrEqual(4);
    const reopened = await Journal.open(dir, { readOnly: true });
    for (const name of ["s/0", `s/${STREAMS - 1}`]) {
      const stream = await reopened.stream(name);
      expect(stream.info().lastSeq).toBe(ROUNDS * batch.length);
    }
    await reopened.close();
  }, 300_000);
});
