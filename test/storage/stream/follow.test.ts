import { describe, expect, it } from "vitest";
import { Journal, type JournalRecord, type Stream } from "../../../src/index.js";
import { tempDir } from "../../support/tmp-dir.js";

async function take(
  iterable: AsyncIterable<JournalRecord>,
  count: number,
  onRecord?: (r: JournalRecord) => Promise<void>,
) {
  const seqs: number[] = [];
  for await (const record of iterable) {
    seqs.push(record.seq);
    await onRecord?.(record);
    if (seqs.length === count) break;
  }
  return seqs;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

async function appendSlowly(stream: Stream, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    if (i % 7 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    if (i % 3 === 0) await stream.appendMany([`m${i}a`, `m${i}b`]);
    else await stream.append(`m${i}`);
  }
}

describe("follow", () => {
  it("delivers catch-up then live records exactly once, in order, with no gap", async () => {
    const journal = await Journal.open(tempDir(), { segmentBytesMax: 4096 });
    const stream = await journal.stream("s");
    await stream.appendMany(range(1, 100).map(String));
    const following = take(stream.follow({ after: 50 }), 50 + 100 + 34);
    await appendSlowly(stream, 100); // 100 appends, 34 of them batches of two
    expect(await following).toEqual(range(51, 234));
    await journal.close();
  });

  it("keeps up with a slow consumer without skipping", async () => {
    const journal = await Journal.open(tempDir(), { segmentBytesMax: 4096 });
    const stream = await journal.stream("s");
    const following = take(
      stream.follow({ after: 0 }),
      300,
      () => new Promise((resolve) => setImmediate(resolve)),
    );
    await Promise.all(range(1, 300).map((i) => stream.append(`r${i}`)));
    expect(await following).toEqual(range(1, 300));
    await journal.close();
  });

  it("serves many followers the same records", async () => {
    const journal = await Journal.open(tempDir());
    const stream = await journal.stream("s");
    await stream.appendMany(range(1, 20).map(String));
    const followers = Array.from({ length: 20 }, (_, i) =>
      take(stream.follow({ after: i }), 60 - i),
    );
    for (let i = 20; i < 60; i++) await stream.append(`r${i}`);
    const results = await Promise.all(followers);
    results.forEach((seqs, i) => {
      expect(seqs).toEqual(range(i + 1, 60));
    });
    await journal.close();
  });

  it("ends without an error when its signal aborts while waiting", async () => {
    const journal = await Journal.open(tempDir());
    const stream = await journal.stream("s");
    await stream.append("a");
    const controller = new AbortController();
    const seen: number[] = [];
    const done = (async () => {
      for await (const record of stream.follow({ after: 0, signal: controller.signal }))
        seen.push(record.seq);
    })();
    await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort();
    await done;
    expect(seen).toEqual([1]);
    await journal.close();
  });

  it("ends when the journal closes", async () => {
    const journal = await Journal.open(tempDir());
    const stream = await journal.stream("s");
    const seen: number[] = [];
    const done = (async () => {
      for await (const record of stream.follow()) seen.push(record.seq);
    })();
    await stream.append("a");
    await new Promise((resolve) => setTimeout(resolve, 20));
    await journal.close();
    await done;
    expect(seen).toEqual([1]);
  });

  it("rejects a cursor beyond the end", async () => {
    const journal = await Journal.open(tempDir());
    const stream = await journal.stream("s");
    await expect(take(stream.follow({ after: 3 }), 1)).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await journal.close();
  });
});
