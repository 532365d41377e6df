import { describe, expect, it } from "vitest";
import { Journal } from "../../../src/index.js";
import { spawnChild } from "../../support/child.js";
import { idOf } from "../../support/payloads.js";
import { rng } from "../../support/sim-disk.js";
import { tempDir } from "../../support/tmp-dir.js";

const KILLS = 25;

describe("crash: SIGKILL during concurrent appends at durability 'always'", () => {
  it(`loses no acknowledged record over ${KILLS} kills at random moments`, async () => {
    const dir = tempDir();
    const random = rng(20261122);
    const acked = new Map<number, string>();
    let recoveryEvents = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const child = spawnChild("append-until-killed.ts", [
        dir,
        `k${kill}`,
        String(8 + (kill % 4) * 16),
      ]);
      await child.waitFor(/^ready$/);
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.floor(random() * 250)));
      child.process.kill("SIGKILL");
      const { signal } = await child.exited;
      expect(signal, child.stderr()).toBe("SIGKILL");
      for (const line of child.lines) {
        const match = /^ack (\d+) (\S+)$/.exec(line);
        if (match === null) continue;
        const seq = Number(match[1]);
        expect(acked.has(seq), `seq ${seq} acknowledged twice`).toBe(false);
        acked.set(seq, match[2]!);
      }

      const journal = await Journal.open(dir);
      recoveryEvents += journal.recovery.length;
      const stream = await journal.stream("crash");
      const problems: string[] = [];
      let expected = 1;
      for await (const record of stream.read({ after: 0 })) {
        if (record.seq !== expected)
          problems.push(`seq ${record.seq} where ${expected} was expected`);
        expected = record.seq + 1;
        const id = idOf(record.payload);
        if (id === undefined) problems.push(`record ${record.seq} holds bytes nobody appended`);
        const ackedId = acked.get(record.seq);
        if (ackedId !== undefined && id !== ackedId)
          problems.push(`record ${record.seq} is ${id}, acknowledged as ${ackedId}`);
      }
      const lastSeq = expected - 1;
      for (const seq of acked.keys())
        if (seq > lastSeq) problems.push(`acknowledged seq ${seq} is missing`);
      expect(problems.slice(0, 10)).toEqual([]);
      await journal.close();
    }
    expect(acked.size).toBeGreaterThan(KILLS * 10);
    console.log(
      `crash test: ${acked.size} acknowledged records verified, ${recoveryEvents} recovery events`,
    );
  }, 240_000);
});
