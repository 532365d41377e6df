import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { Journal } from "../../../src/index.js";
import { streamIdentity } from "../../../src/storage/stream/stream-name.js";
import { spawnChild } from "../../support/child.js";
import { tempDir } from "../../support/tmp-dir.js";

const payload = (i: number) => `job-${i}:${"w".repeat(80)}`;

describe("durable consumers", () => {
  it("keep their position across a reopen, and it never moves backwards", async () => {
    const dir = tempDir();
    let journal = await Journal.open(dir);
    let stream = await journal.stream("s");
    await stream.appendMany(Array.from({ length: 20 }, (_, i) => payload(i)));
    const consumer = stream.consumer("billing");
    expect(consumer.position).toBe(0);
    expect(consumer.ackedAt).toBeNull();
    expect(await consumer.ack(5)).toBe(5);
    expect(await consumer.ack(3)).toBe(5); // older: nothing changes
    await Promise.all([consumer.ack(7), consumer.ack(12), consumer.ack(9)]);
    expect(consumer.position).toBe(12);
    await expect(consumer.ack(21)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(consumer.ack(-1)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(() => stream.consumer("")).toThrow(expect.objectContaining({ code: "INVALID_NAME" }));
    stream.consumer("audit"); // never acked: not durable
    expect(stream.consumers().map((c) => c.name)).toEqual(["audit", "billing"]);
    await journal.close();

    journal = await Journal.open(dir);
    stream = await journal.stream("s");
    expect(stream.consumers().map((c) => [c.name, c.position])).toEqual([["billing", 12]]);
    expect(stream.consumer("billing").ackedAt).toBeGreaterThan(0);
    await journal.close();
  });

  it("rewrite their file once it holds many acknowledgements, and read it back the same", async () => {
    const dir = tempDir();
    let journal = await Journal.open(dir, { durability: "none" });
    let stream = await journal.stream("s");
    await stream.appendMany(Array.from({ length: 3000 }, (_, i) => payload(i)));
    const consumer = stream.consumer("c");
    for (let seq = 1; seq <= 3000; seq++) await consumer.ack(seq);
    await journal.close();
    const files = readdirSync(join(dir, "streams", streamIdentity("s").dirName, "consumers"));
    expect(files).toEqual([`${streamIdentity("c").dirName}.pos`]);
    journal = await Journal.open(dir);
    stream = await journal.stream("s");
    expect(stream.consumer("c").position).toBe(3000);
    await journal.close();
  });

  it("survive SIGKILL: the position after a restart is at least every acknowledged one", async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir);
    const stream = await journal.stream("work");
    await stream.appendMany(Array.from({ length: 2000 }, (_, i) => payload(i)));
    await journal.close();
    let lastAcked = 0;
    for (let kill = 0; kill < 5; kill++) {
      const child = spawnChild("ack-until-killed.ts", [dir]);
      const ready = await child.waitFor(/^ready \d+$/);
      expect(Number(ready.split(" ")[1])).toBeGreaterThanOrEqual(lastAcked); // never backwards
      await new Promise((resolve) => setTimeout(resolve, 30 + kill * 20));
      child.process.kill("SIGKILL");
      await child.exited;
      for (const line of child.lines)
        if (line.startsWith("acked ")) lastAcked = Math.max(lastAcked, Number(line.slice(6)));
      const reopened = await Journal.open(dir);
      const position = (await reopened.stream("work")).consumer("worker").position;
      expect(position).toBeGreaterThanOrEqual(lastAcked);
      await reopened.close();
    }
    expect(lastAcked).toBeGreaterThan(0);
  });

  it("with retention 'acked', release data only once every consumer acknowledged it", async () => {
    const journal = await Journal.open(tempDir(), { segmentBytesMax: 4096 });
    const stream = await journal.stream("buffer", { retention: "acked" });
    const a = stream.consumer("store-a");
    const b = stream.consumer("store-b");
    for (let i = 1; i <= 300; i += 10)
      await stream.appendMany(Array.from({ length: 10 }, (_, k) => payload(i + k)));
    await a.ack(300);
    await journal.runMaintenance();
    expect(stream.info().firstSeq).toBe(1); // b has acknowledged nothing
    await b.ack(150);
    await journal.runMaintenance();
    const partly = stream.info().firstSeq;
    expect(partly).toBeGreaterThan(1);
    expect(partly).toBeLessThanOrEqual(151); // never past what b acknowledged
    await b.ack(300);
    // The acknowledgement itself starts the release: no maintenance round needed.
    await vi.waitFor(() =>
      expect(stream.info()).toMatchObject({ firstSeq: 301, lastSeq: 300, records: 0 }),
    );
    expect((await journal.stats()).acknowledged.records).toBe(300);
    expect((await stream.append("next")).seq).toBe(301);
    await journal.close();
  });

  it("release what a removed consumer was holding back", async () => {
    const journal = await Journal.open(tempDir(), { segmentBytesMax: 4096 });
    const stream = await journal.stream("buffer", { retention: "acked" });
    for (let i = 1; i <= 200; i += 10)
      await stream.appendMany(Array.from({ length: 10 }, (_, k) => payload(i + k)));
    await stream.consumer("fast").ack(200);
    await stream.consumer("stuck").ack(1);
    await journal.runMaintenance();
    expect(stream.info().firstSeq).toBe(1);
    expect(await stream.removeConsumer("stuck")).toBe(true);
    await journal.runMaintenance();
    expect(stream.info().records).toBe(0);
    await journal.close();
  });

  it("report a damaged consumer file and leave it alone", async () => {
    const dir = tempDir();
    let journal = await Journal.open(dir);
    const stream = await journal.stream("s");
    await stream.append("x");
    await stream.consumer("c").ack(1);
    await journal.close();
    const file = join(
      dir,
      "streams",
      streamIdentity("s").dirName,
      "consumers",
      `${streamIdentity("c").dirName}.pos`,
    );
    writeFileSync(file, "garbage");
    journal = await Journal.open(dir);
    expect(journal.recovery).toEqual([expect.objectContaining({ kind: "corrupt", stream: "s" })]);
    expect((await journal.stream("s")).consumers()).toEqual([]);
    await journal.close();
  });
});
