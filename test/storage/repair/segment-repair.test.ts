/**
 * Repair's crash safety (docs/format.md §9.1, row 35): stopped after the copies (quarantine, new
 * segments) and before the lost seqs are stored and the original cut, the stream reads as before
 * the repair; repair run again finishes the job. Scanning never changes a file.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CorruptError, Journal } from "../../../src/index.js";
import { NodeFileSystem } from "../../../src/storage/fs/node-file-system.js";
import { repairJournal } from "../../../src/storage/repair/journal-repair.js";
import { scanSegment, writeRuns } from "../../../src/storage/repair/segment-repair.js";
import { streamIdentity } from "../../../src/storage/stream/stream-name.js";
import { tempDir } from "../../support/tmp-dir.js";

async function readAll(dir: string): Promise<{ seqs: number[]; error: string | undefined }> {
  const journal = await Journal.open(dir, { readOnly: true });
  const seqs: number[] = [];
  let error: string | undefined;
  try {
    const stream = await journal.stream("s");
    let after = 0;
    for (;;) {
      try {
        for await (const r of stream.read({ after })) {
          seqs.push(r.seq);
          after = r.seq;
        }
        break;
      } catch (err) {
        if (!(err instanceof CorruptError)) throw err;
        error = err.message;
        if (err.context.resumeAfter === undefined) break;
        after = err.context.resumeAfter;
      }
    }
  } finally {
    await journal.close();
  }
  return { seqs, error };
}

describe("segment repair", () => {
  it("leaves the stream as it was when stopped after the copies, and finishes when run again", async () => {
    const dir = tempDir("repair-crash");
    const journal = await Journal.open(dir, { segmentBytesMax: 4096 });
    const stream = await journal.stream("s");
    for (let i = 1; i <= 40; i++) await stream.append(`${i}`.padEnd(100, "-"));
    await journal.close();
    const streamDir = join(dir, "streams", streamIdentity("s").dirName);
    const segment = join(streamDir, "00000000000000000001.seg");
    const bytes = readFileSync(segment);
    bytes[32 + 10 * 128 + 50]! ^= 0x10;
    writeFileSync(segment, bytes);
    const before = await readAll(dir);
    expect(before.error).toMatch(/seqs 11\.\.11 cannot be read/);

    const fs = new NodeFileSystem();
    const scan = await scanSegment(fs, streamDir, 1, 31);
    expect(readFileSync(segment).equals(bytes)).toBe(true);
    expect(scan.damage).toEqual([{ offset: 32 + 10 * 128, bytes: 128, lost: [11, 11] }]);
    expect(scan.runs.map((r) => [r.firstSeq, r.lastSeq])).toEqual([
      [1, 10],
      [12, 31],
    ]);
    await writeRuns(fs, streamDir, scan, streamIdentity("s").tag, 1);
    // "Crash" here: the new segment 12 exists, nothing else changed.
    expect(readdirSync(streamDir)).toContain("00000000000000000012.seg");
    expect(await readAll(dir)).toEqual(before);

    const report = await repairJournal(dir, { streams: "all", dryRun: false });
    expect(report.unrepaired).toEqual([]);
    expect(await readAll(dir)).toEqual({ seqs: before.seqs, error: undefined });
  });
});
