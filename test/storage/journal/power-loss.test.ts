import { describe, expect, it } from "vitest";
import { type Durability, Journal } from "../../../src/index.js";
import { idOf, payloadFor } from "../../support/payloads.js";
import { rng, SimDisk } from "../../support/sim-disk.js";

const STREAMS = ["a", "b/c", "ü"];

interface Outcome {
  /** Per stream: seq → id of every acknowledged append. */
  acked: Map<string, Map<number, string>>;
}

/** Runs concurrent appends on the disk until it "loses power"; returns what was acknowledged. */
async function workload(
  disk: SimDisk,
  seed: number,
  durability: Durability,
  outcome: Outcome,
  round: number,
) {
  const random = rng(seed);
  disk.crashAfterOps(30 + Math.floor(random() * 1500));
  let journal: Journal;
  try {
    journal = await Journal.open("/j", {
      fs: disk.fs(),
      durability,
      segmentBytesMax: 4096,
      syncIntervalMs: 1,
    });
  } catch {
    return; // power lost while opening
  }
  const appender = async (worker: number) => {
    for (let n = 0; !disk.crashed; n++) {
      const name = STREAMS[(worker + n) % STREAMS.length]!;
      const ids = Array.from(
        { length: random() < 0.3 ? 2 + Math.floor(random() * 4) : 1 },
        (_, k) => `${round}.${worker}.${n}.${k}`,
      );
      try {
        const stream = await journal.stream(name);
        const seqs = await stream.appendMany(ids.map((id) => Buffer.from(payloadFor(id))));
        const acked = outcome.acked.get(name) ?? new Map<number, string>();
        outcome.acked.set(name, acked);
        for (const [i, seq] of seqs.entries()) acked.set(seq, ids[i]!);
      } catch {
        if (!disk.crashed) await new Promise((resolve) => setImmediate(resolve));
      }
    }
  };
  await Promise.all(Array.from({ length: 6 }, (_, worker) => appender(worker)));
}

/** Opens the rebooted disk and checks every stream against what was acknowledged. */
async function verify(
  disk: SimDisk,
  durability: Durability,
  outcome: Outcome,
  strict: boolean,
): Promise<string[]> {
  const problems: string[] = [];
  const journal = await Journal.open("/j", { fs: disk.fs(), durability, segmentBytesMax: 4096 });
  for (const name of journal.list()) {
    const stream = await journal.stream(name);
    const acked = outcome.acked.get(name) ?? new Map<number, string>();
    let expected = 1;
    for await (const record of stream.read({ after: 0 })) {
      if (record.seq !== expected)
        problems.push(`${name}: seq ${record.seq} where ${expected} was expected`);
      expected = record.seq + 1;
      const id = idOf(record.payload);
      if (id === undefined)
        problems.push(`${name}: record ${record.seq} holds bytes nobody appended`);
      if (strict && acked.has(record.seq) && acked.get(record.seq) !== id) {
        problems.push(
          `${name}: record ${record.seq} is ${id}, acknowledged as ${acked.get(record.seq)}`,
        );
      }
    }
    if (strict) {
      for (const seq of acked.keys())
        if (seq >= expected) problems.push(`${name}: acknowledged seq ${seq} is missing`);
    }
    // Whatever survived is the truth from now on: later rounds check against it.
    const survivors = new Map<number, string>();
    for await (const record of stream.read({ after: 0 }))
      survivors.set(record.seq, idOf(record.payload)!);
    outcome.acked.set(name, survivors);
  }
  if (strict) {
    for (const [name, acked] of outcome.acked) {
      if (acked.size > 0 && !journal.list().includes(name))
        problems.push(`stream ${name} with acknowledged records is missing`);
    }
  }
  await journal.close();
  return problems;
}

describe("power loss on a simulated disk that drops or tears every unsynced write", () => {
  it("keeps every acknowledged append under 'always', over 300 seeds and three crashes each", async () => {
    let acknowledged = 0;
    for (let seed = 1; seed <= 300; seed++) {
      let disk = new SimDisk(rng(seed));
      const outcome: Outcome = { acked: new Map() };
      for (let round = 0; round < 3; round++) {
        await workload(disk, seed * 31 + round, "always", outcome, round);
        for (const acked of outcome.acked.values()) acknowledged += acked.size;
        disk = disk.afterCrash(seed * 7 + round);
        const problems = await verify(disk, "always", outcome, true);
        expect(problems, `seed ${seed}, round ${round}`).toEqual([]);
      }
    }
    expect(acknowledged).toBeGreaterThan(3000);
  }, 300_000);

  it("never returns damaged or phantom records under 'batch', over 150 seeds", async () => {
    for (let seed = 1; seed <= 150; seed++) {
      let disk = new SimDisk(rng(seed));
      const outcome: Outcome = { acked: new Map() };
      for (let round = 0; round < 2; round++) {
        await workload(disk, seed * 13 + round, "batch", outcome, round);
        disk = disk.afterCrash(seed * 5 + round);
        const problems = await verify(disk, "batch", outcome, false);
        expect(problems, `seed ${seed}, round ${round}`).toEqual([]);
      }
    }
  }, 300_000);
});

describe("power loss during retention, trim and delete", () => {
  it("never leaves a gap, a foreign record, an undone trim or a deleted stream back, over 150 seeds", async () => {
    for (let seed = 1; seed <= 150; seed++) {
      const random = rng(seed * 97);
      const disk = new SimDisk(rng(seed));
      disk.crashAfterOps(200 + Math.floor(random() * 3000));
      const acked = new Map<string, Map<number, string>>();
      const trimmedTo = new Map<string, number>();
      const deleted = new Set<string>();
      try {
        const journal = await Journal.open("/j", { fs: disk.fs(), segmentBytesMax: 4096 });
        const names = ["ring", "trimmed", "doomed"];
        await Promise.all(
          names.map(async (name, w) => {
            const stream = await journal.stream(
              name,
              name === "ring" ? { limits: { recordsMax: 60 } } : {},
            );
            for (let n = 0; !disk.crashed; n++) {
              const ids = [`${name}.${w}.${n}.0`, `${name}.${w}.${n}.1`];
              const seqs = await stream.appendMany(ids.map((id) => Buffer.from(payloadFor(id))));
              const map = acked.get(name) ?? new Map<number, string>();
              acked.set(name, map);
              for (const [i, seq] of seqs.entries()) map.set(seq, ids[i]!);
              if (name === "trimmed" && n % 15 === 14) {
                const before = stream.info().lastSeq - 10;
                await stream.trim({ before });
                trimmedTo.set(name, before);
              }
              if (name === "doomed" && n === 40) {
                await journal.deleteStream(name);
                deleted.add(name);
                return;
              }
            }
          }),
        );
      } catch {
        // the power went out
      }
      disk.crashNow();
      const rebooted = disk.afterCrash(seed * 13);
      const journal = await Journal.open("/j", { fs: rebooted.fs(), segmentBytesMax: 4096 });
      await new Promise((resolve) => setTimeout(resolve, 30)); // let retention finish what the crash cut short
      const problems: string[] = [];
      for (const name of deleted)
        if (journal.list().includes(name)) problems.push(`${name} came back after its delete`);
      for (const name of journal.list()) {
        const stream = await journal.stream(name);
        const { firstSeq, lastSeq } = stream.info();
        if ((trimmedTo.get(name) ?? 0) > firstSeq)
          problems.push(`${name}: trim to ${trimmedTo.get(name)} undone (firstSeq ${firstSeq})`);
        const mine = acked.get(name) ?? new Map<number, string>();
        for (const seq of mine.keys())
          if (seq > lastSeq) problems.push(`${name}: acknowledged seq ${seq} lost`);
        let expected = firstSeq;
        for await (const record of stream.read()) {
          if (record.seq !== expected)
            problems.push(`${name}: seq ${record.seq} where ${expected} was expected`);
          expected = record.seq + 1;
          const id = idOf(record.payload);
          if (id === undefined || !id.startsWith(`${name}.`))
            problems.push(`${name}: record ${record.seq} is not this stream's`);
          if (mine.has(record.seq) && mine.get(record.seq) !== id)
            problems.push(`${name}: record ${record.seq} changed`);
        }
      }
      await journal.close();
      expect(problems, `seed ${seed}`).toEqual([]);
    }
  }, 300_000);
});
