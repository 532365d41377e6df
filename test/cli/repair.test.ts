/**
 * `tidemark verify` and `tidemark repair` as real processes on journals damaged on purpose: a bit
 * flip in a sealed segment, one in the active segment, a missing segment, a damaged consumer file,
 * a damaged stream.json. Repair cuts exactly the damaged bytes out (kept under quarantine/),
 * marks their seqs lost, leaves every intact record readable, and appends continue after the
 * last seq ever held; --dry-run changes nothing; exit codes say what happened.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Journal } from "../../src/index.js";
import { tidemark } from "../support/cli.js";
import { tempDir } from "../support/tmp-dir.js";

const RECORD_BYTES = 28 + 100; // each payload below is 100 bytes

function streamDir(dir: string, prefix: string): string {
  return join(dir, "streams", readdirSync(join(dir, "streams")).find((d) => d.startsWith(prefix))!);
}

function flip(path: string, offset: number): Buffer {
  const bytes = readFileSync(path);
  bytes[offset]! ^= 0xff;
  writeFileSync(path, bytes);
  return bytes;
}

/** Every file of the journal and a hash of its bytes. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else
        out[path.slice(dir.length)] = createHash("sha256").update(readFileSync(path)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

async function fill(dir: string): Promise<void> {
  const journal = await Journal.open(dir, { segmentBytesMax: 4096 });
  for (const name of ["alpha", "beta", "gamma"]) {
    const stream = await journal.stream(name);
    for (let i = 1; i <= 70; i++) await stream.append(`${name} ${i}`.padEnd(100, "."));
    if (name === "alpha") await stream.consumer("mirror").ack(10);
  }
  await journal.close();
}

async function seqsOf(dir: string, name: string): Promise<number[]> {
  const journal = await Journal.open(dir, { readOnly: true });
  try {
    const seqs: number[] = [];
    for await (const r of (await journal.stream(name)).read()) seqs.push(r.seq);
    return seqs;
  } finally {
    await journal.close();
  }
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("tidemark repair", () => {
  it("cuts out what verify finds, keeps the bytes, and leaves a journal that verifies clean", async () => {
    const dir = tempDir("repair");
    await fill(dir);
    const alpha = streamDir(dir, "alpha-");
    const beta = streamDir(dir, "beta-");
    const gamma = streamDir(dir, "gamma-");
    // alpha: seq 5 damaged in its first (sealed) segment; its consumer file garbled.
    const flipped = flip(join(alpha, "00000000000000000001.seg"), 32 + 4 * RECORD_BYTES + 40);
    const damaged = flipped.subarray(32 + 4 * RECORD_BYTES, 32 + 5 * RECORD_BYTES);
    const consumer = join(alpha, "consumers", readdirSync(join(alpha, "consumers"))[0]!);
    writeFileSync(consumer, Buffer.from("garbage, not a consumer file"));
    // beta: its second segment (seqs 32..62) is gone.
    rmSync(join(beta, "00000000000000000032.seg"));
    // gamma: seq 64 damaged inside the active segment (63..70), below the checkpoint.
    flip(join(gamma, "00000000000000000063.seg"), 32 + 1 * RECORD_BYTES + 40);

    const verify = await tidemark(["verify", "--dir", dir, "--json"]);
    expect(verify.code).toBe(3);
    const problems = JSON.parse(verify.stdout).problems;
    expect(problems.map((p: { stream?: string }) => p.stream).sort()).toEqual([
      "alpha",
      "alpha",
      "beta",
      "gamma",
    ]);

    const before = snapshot(dir);
    const dry = await tidemark(["repair", "--all", "--dry-run", "--dir", dir]);
    expect(dry.code).toBe(3);
    expect(dry.stdout).toMatch(
      /would repair: alpha: 00000000000000000001\.seg: 128 damaged bytes at offset 544 cut out, seqs 5\.\.5 marked lost/,
    );
    expect(dry.stdout).toMatch(
      /would repair: beta: seqs 32\.\.62 after 00000000000000000001\.seg are in no segment file \(one was lost\): marked lost/,
    );
    expect(snapshot(dir)).toEqual(before);

    const repaired = await tidemark(["repair", "--all", "--dir", dir, "--json"]);
    expect(repaired.code, repaired.stdout + repaired.stderr).toBe(0);
    const report = JSON.parse(repaired.stdout);
    expect(report.unrepaired).toEqual([]);
    expect(
      report.actions
        .map((a: { stream: string; action: string }) => `${a.stream}:${a.action}`)
        .sort(),
    ).toEqual([
      "alpha:cut",
      "alpha:quarantine-consumer",
      "beta:mark-lost",
      "gamma:cut",
      "gamma:new-active-segment",
    ]);
    // The damaged bytes are kept, exactly.
    const saved = report.actions.find(
      (a: { stream: string; action: string }) => a.stream === "alpha" && a.action === "cut",
    ).saved[0];
    expect(readFileSync(join(alpha, saved)).equals(damaged)).toBe(true);
    expect(readdirSync(join(alpha, "quarantine")).length).toBe(2);

    expect((await tidemark(["verify", "--dir", dir])).code).toBe(0);
    expect(await seqsOf(dir, "alpha")).toEqual([...range(1, 4), ...range(6, 70)]);
    expect(await seqsOf(dir, "beta")).toEqual([...range(1, 31), ...range(63, 70)]);
    expect(await seqsOf(dir, "gamma")).toEqual([...range(1, 63), ...range(65, 70)]);
    const info = JSON.parse((await tidemark(["info", "gamma", "--dir", dir, "--json"])).stdout);
    expect(info).toMatchObject({ records: 69, lost: [[64, 64]], lastSeq: 70 });

    // Nothing recovery would redo or report at the next open, and seqs are never handed out again.
    const journal = await Journal.open(dir);
    expect(journal.recovery).toEqual([]);
    expect((await (await journal.stream("gamma")).append("next")).seq).toBe(71);
    expect((await (await journal.stream("alpha")).append("next")).seq).toBe(71);
    await journal.close();
  });

  it("says what it cannot repair, and exits 4", async () => {
    const dir = tempDir("repair-descriptor");
    await fill(dir);
    writeFileSync(join(streamDir(dir, "beta-"), "stream.json"), "{ not json");
    const result = await tidemark(["repair", "--all", "--dir", dir]);
    expect(result.code).toBe(4);
    expect(result.stdout).toMatch(/NOT repaired: .*stream\.json/);
  });

  it("needs the writer lock and says how to get it; --dry-run works beside a writer", async () => {
    const dir = tempDir("repair-locked");
    await fill(dir);
    const holder = await Journal.open(dir);
    try {
      const locked = await tidemark(["repair", "--all", "--dir", dir]);
      expect(locked.code).toBe(5);
      expect(locked.stderr).toMatch(
        new RegExp(
          `open for writing by process ${process.pid}.*stop that process.*\\[JOURNAL_LOCKED\\]`,
        ),
      );
      expect(locked.stderr).not.toMatch(/readOnly/);
      const dry = await tidemark(["repair", "--all", "--dry-run", "--dir", dir]);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toMatch(/nothing to repair/);
    } finally {
      await holder.close();
    }
    const usage = await tidemark(["repair", "--dir", dir]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/name the streams to repair, or pass --all/);
  });
});
