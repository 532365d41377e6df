import { describe, expect, it } from "vitest";
import { Journal } from "../../../src/index.js";
import { spawnChild } from "../../support/child.js";
import { tempDir } from "../../support/tmp-dir.js";

describe("read-only journals in another process", () => {
  it("follow a stream while this process writes it: every record once, in order, across rotations", async () => {
    const dir = tempDir();
    const writer = await Journal.open(dir, { segmentBytesMax: 4096 });
    const stream = await writer.stream("live");
    await stream.appendMany(Array.from({ length: 50 }, (_, i) => `p${i + 1}`));
    const reader = spawnChild("follow-read-only.ts", [dir, "live", "600"]);
    await reader.waitFor(/^following$/);
    for (let i = 51; i <= 600; i++) {
      if (i % 5 === 0) await stream.appendMany([`p${i}`]);
      else await stream.append(`p${i}`);
      if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await reader.waitFor(/^done$/, 30_000);
    const records = reader.lines.filter((line) => line.startsWith("rec "));
    expect(records).toEqual(Array.from({ length: 600 }, (_, i) => `rec ${i + 1} p${i + 1}`));
    await writer.close();
  });

  it("read what is committed and never see a batch before it is complete", async () => {
    const dir = tempDir();
    const writer = await Journal.open(dir);
    const stream = await writer.stream("s");
    await stream.appendMany(["a", "b", "c"]);
    // Another journal sees an append once the writer has written it to its segment, which for a
    // quiet stream is right after its commit (docs/format.md §14.3): wait for that, not for a time.
    await writer.runMaintenance();
    const reader = await Journal.open(dir, { readOnly: true });
    const view = await reader.stream("s");
    expect(view.info().lastSeq).toBe(3);
    await stream.appendMany(["d", "e"]);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const seqs: number[] = [];
      for await (const record of view.read({ after: 0 })) seqs.push(record.seq);
      // All of a batch or none of it, at every look: never [1, 2, 3, 4].
      expect([
        [1, 2, 3],
        [1, 2, 3, 4, 5],
      ]).toContainEqual(seqs);
      if (seqs.length === 5 || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(view.info().lastSeq).toBe(5);
    await reader.close();
    await writer.close();
  });
});
