/**
 * Batch reads (`Stream.readBatches`) read every chunk into one reused buffer: each batch must
 * hold exactly what `read()` returns, whatever the record sizes, the starting point and where
 * the chunks end, including the last chunk of the active segment, which is shorter than the
 * one before it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Journal } from "../../../src/index.js";
import { tempDir } from "../../support/tmp-dir.js";

describe("batch reads into a reused buffer", () => {
  it("return what read() returns, from any starting point", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 300 }),
        fc.nat(),
        fc.integer({ min: 1, max: 50 }),
        async (sizes, start, batchMax) => {
          const journal = await Journal.open(tempDir(), { durability: "none" });
          const stream = await journal.stream("s");
          for (const [i, size] of sizes.entries()) {
            await stream.append(Buffer.alloc(size, (i * 7 + 1) & 0xff));
          }
          const after = start % (sizes.length + 1);
          const expected: string[] = [];
          for await (const record of stream.read({ after })) {
            expected.push(Buffer.from(record.payload).toString("hex"));
          }
          const got: string[] = [];
          const reader = stream.readBatches({ after });
          for (;;) {
            const batch = await reader.nextBatch(batchMax);
            if (batch === undefined) break;
            expect(batch.length).toBeGreaterThan(0);
            expect(batch.length).toBeLessThanOrEqual(batchMax);
            // Copied before the next call: the buffer the views point into is reused then.
            for (const record of batch) got.push(Buffer.from(record.payload).toString("hex"));
          }
          await journal.close();
          expect(got).toEqual(expected);
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);
});
