import { describe, expect, it } from "vitest";
import { Journal } from "../../../src/index.js";
import { tempDir } from "../../support/tmp-dir.js";

describe("stats after trim", () => {
  it("counts the records a trim released, inside a segment and whole segments alike, once each", async () => {
    const journal = await Journal.open(tempDir(), { segmentBytesMax: 4096 });
    const stream = await journal.stream("s");
    await stream.appendMany(Array.from({ length: 10 }, (_, i) => `r${i + 1}`));
    await stream.trim({ before: 4 }); // inside the only segment
    expect((await journal.stats()).trimmed.records).toBe(3);
    expect(stream.info().firstSeq).toBe(4);
    // Enough to fill several segments; then trim past the first ones.
    for (let i = 0; i < 20; i++) await stream.appendMany([`${"x".repeat(400)}${i}`, "y", "z"]);
    const before = stream.info().lastSeq - 5;
    await stream.trim({ before });
    const { trimmed } = await journal.stats();
    expect(trimmed.records).toBe(before - 1);
    expect(trimmed.segments).toBeGreaterThan(0);
    expect(stream.info().firstSeq).toBe(before);
    await journal.close();
  });
});
