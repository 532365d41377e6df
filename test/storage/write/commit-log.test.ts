/**
 * The commit log (docs/format.md §14) on a simulated disk that drops or tears every unsynced
 * write: appends spread over many streams share group commits, log files are small so that
 * checkpoints (segment syncs, then deleting log files) run all the time, and the power goes out
 * at a random operation: in a group write, a log fdatasync, a write-behind flush, a checkpoint's
 * segment sync, a log file creation or deletion. After every crash the journal is reopened for
 * writing with no cleanup, and every acknowledged append must be there, byte for byte.
 */
import { describe, expect, it } from "vitest";
import { type Durability, Journal } from "../../../src/index.js";
import { idOf, payloadFor } from "../../support/payloads.js";
import { rng, SimDisk } from "../../support/sim-disk.js";

const STREAMS = Array.from({ length: 24 }, (_, i) => `s/${i}`);
/** The smallest log file the journal allows: a new file, and a checkpoint, every 64 KiB. */
const LOG_FILE_BYTES_MAX = 64 * 1024;

type Acked = Map<string, Map<number, string>>;

async function open(disk: SimDisk, durability: Durability): Promise<Journal> {
  return Journal.open("/j", {
    fs: disk.fs(),
    bootId: disk.bootId,
    durability,
    segmentBytesMax: 256 * 1024,
    logFileBytesMax: LOG_FILE_BYTES_MAX,
    syncIntervalMs: 1,
  });
}

/** Appends from 8 workers over all streams until the power goes out; records what was acked. */
async function workload(disk: SimDisk, seed: number, durability: Durability, acked: Acked) {
  const random = rng(seed);
  disk.crashAfterOps(100 + Math.floor(random() * 4000));
  let journal: Journal;
  try {
    journal = await open(disk, durability);
  } catch (err) {
    if (!disk.crashed) throw err;
    return 0; // the power went out while it opened
  }
  let acknowledged = 0;
  const worker = async (w: number) => {
    for (let n = 0; !disk.crashed; n++) {
      const name = STREAMS[Math.floor(random() * STREAMS.length)]!;
      const ids = Array.from(
        { length: random() < 0.2 ? 2 + Math.floor(random() * 3) : 1 },
        (_, k) => `${seed}.${w}.${n}.${k}`,
      );
      try {
        const stream = await journal.stream(name);
        const seqs = await stream.appendMany(ids.map((id) => Buffer.from(payloadFor(id))));
        const map = acked.get(name) ?? new Map<number, string>();
        acked.set(name, map);
        for (const [i, seq] of seqs.entries()) map.set(seq, ids[i]!);
        acknowledged += seqs.length;
      } catch (err) {
        if (!disk.crashed) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
  // The process "died" with the power: stop its timers (this close fails on the dead disk).
  await journal.close().catch(() => undefined);
  return acknowledged;
}

/** Reopens for writing and compares every stream with what was acknowledged. */
async function verify(disk: SimDisk, durability: Durability, acked: Acked, strict: boolean) {
  const problems: string[] = [];
  const journal = await open(disk, durability);
  for (const name of journal.list()) {
    const stream = await journal.stream(name);
    const mine = acked.get(name) ?? new Map<number, string>();
    const survivors = new Map<number, string>();
    let expected = 1;
    for await (const record of stream.read({ after: 0 })) {
      if (record.seq !== expected)
        problems.push(`${name}: seq ${record.seq}, expected ${expected}`);
      expected = record.seq + 1;
      const id = idOf(record.payload);
      if (id === undefined) problems.push(`${name}: record ${record.seq} holds foreign bytes`);
      else survivors.set(record.seq, id);
      if (strict && mine.has(record.seq) && mine.get(record.seq) !== id) {
        problems.push(
          `${name}: seq ${record.seq} is ${id}, acknowledged as ${mine.get(record.seq)}`,
        );
      }
    }
    if (strict) {
      for (const seq of mine.keys())
        if (seq >= expected) problems.push(`${name}: acked seq ${seq} lost`);
    }
    acked.set(name, survivors); // what survived is what later rounds are checked against
  }
  if (strict) {
    for (const [name, mine] of acked) {
      if (mine.size > 0 && !journal.list().includes(name)) problems.push(`${name} is missing`);
    }
  }
  const kinds = new Set(journal.recovery.map((event) => event.kind));
  await journal.close();
  return { problems, kinds };
}

describe("commit log on a disk that loses unsynced writes", () => {
  it("keeps every acknowledged append over many streams, through group commits, flushes and checkpoints", async () => {
    let acknowledged = 0;
    const seen = new Set<string>();
    for (let seed = 1; seed <= 120; seed++) {
      let disk = new SimDisk(rng(seed));
      const acked: Acked = new Map();
      for (let round = 0; round < 3; round++) {
        acknowledged += await workload(disk, seed * 31 + round, "always", acked);
        disk = disk.afterCrash(seed * 7 + round);
        const { problems, kinds } = await verify(disk, "always", acked, true);
        for (const kind of kinds) seen.add(kind);
        expect(problems, `seed ${seed}, round ${round}`).toEqual([]);
      }
    }
    expect(acknowledged).toBeGreaterThan(20_000);
    // The crashes hit the log and the segments: records were written again from the log.
    expect(seen.has("redone")).toBe(true);
  }, 600_000);

  it("never returns damaged, foreign or out-of-order records under 'batch'", async () => {
    let acknowledged = 0;
    for (let seed = 1; seed <= 60; seed++) {
      let disk = new SimDisk(rng(seed));
      const acked: Acked = new Map();
      for (let round = 0; round < 2; round++) {
        acknowledged += await workload(disk, seed * 13 + round, "batch", acked);
        disk = disk.afterCrash(seed * 5 + round);
        const { problems } = await verify(disk, "batch", acked, false);
        expect(problems, `seed ${seed}, round ${round}`).toEqual([]);
      }
    }
    expect(acknowledged).toBeGreaterThan(5_000);
  }, 600_000);
});
