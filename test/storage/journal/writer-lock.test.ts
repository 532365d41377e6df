import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Journal } from "../../../src/index.js";
import { spawnChild } from "../../support/child.js";
import { rng, SimDisk } from "../../support/sim-disk.js";
import { tempDir } from "../../support/tmp-dir.js";

describe("writer lock", () => {
  it("refuses a second writer in the same process with JOURNAL_LOCKED, until the first closes", async () => {
    const dir = tempDir();
    const first = await Journal.open(dir);
    await expect(Journal.open(dir)).rejects.toMatchObject({ code: "JOURNAL_LOCKED" });
    const reader = await Journal.open(dir, { readOnly: true });
    await reader.close();
    await first.close();
    const second = await Journal.open(dir);
    await second.close();
  });

  it("lets exactly one of 20 racing processes open the journal", async () => {
    const dir = tempDir();
    const children = Array.from({ length: 20 }, () => spawnChild("open-journal.ts", [dir]));
    const outcomes = await Promise.all(
      children.map((child) => child.waitFor(/^(opened|failed)/, 60_000)),
    );
    expect(
      outcomes.filter((line) => line.startsWith("opened")),
      outcomes.join(", "),
    ).toHaveLength(1);
    expect(
      outcomes.filter((line) => line.startsWith("failed JOURNAL_LOCKED")),
      outcomes.join(", "),
    ).toHaveLength(19);
    for (const child of children) child.process.stdin!.end();
    await Promise.all(children.map((child) => child.exited));
    const reopened = await Journal.open(dir);
    await reopened.close();
  });

  it("takes over at once a lock left by a process killed with SIGKILL", async () => {
    const dir = tempDir();
    const child = spawnChild("open-journal.ts", [dir]);
    await child.waitFor(/^opened/);
    await expect(Journal.open(dir)).rejects.toMatchObject({ code: "JOURNAL_LOCKED" });
    child.process.kill("SIGKILL");
    await child.exited;
    const started = Date.now();
    const journal = await Journal.open(dir);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(readdirSync(join(dir, "lock")).filter((f) => f.startsWith("writer."))).toHaveLength(1);
    await journal.close();
  });
});

/** This process's start time, as a claim records it (field 22 of /proc/self/stat). */
function myProcStart(): string {
  const stat = readFileSync("/proc/self/stat", "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
}

const claimName = (epoch: number) => `writer.${String(epoch).padStart(20, "0")}`;

describe("writer lock after a crash", () => {
  it("treats an empty or torn claim, as a crash before its bytes reached the disk leaves it, as a dead holder's", async () => {
    for (const content of ["", '{"pid":12', "\u0000".repeat(64)]) {
      const dir = tempDir();
      await (await Journal.open(dir)).close();
      writeFileSync(join(dir, "lock", claimName(7)), content);
      const journal = await Journal.open(dir);
      const claims = readdirSync(join(dir, "lock")).filter((f) => f.startsWith("writer."));
      expect(claims, JSON.stringify(content)).toEqual([claimName(8)]);
      await journal.close();
    }
  });

  it("treats a claim made in an earlier boot of the machine as dead, even when its pid is alive now", async () => {
    const dir = tempDir();
    await (await Journal.open(dir)).close();
    // This very process, as if it had made the claim before a reboot: pid, start time and host
    // all match, only the boot differs.
    const claim = { pid: process.pid, procStart: myProcStart(), host: hostname(), openedAtMs: 1 };
    writeFileSync(
      join(dir, "lock", claimName(3)),
      JSON.stringify({ ...claim, boot: "another-boot" }),
    );
    const journal = await Journal.open(dir);
    await journal.close();
    // The same claim made in this boot is a live holder's.
    const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    writeFileSync(join(dir, "lock", claimName(9)), JSON.stringify({ ...claim, boot }));
    await expect(Journal.open(dir)).rejects.toMatchObject({ code: "JOURNAL_LOCKED" });
  });

  it("goes through the file interface: the simulated disk holds the lock and every file the journal writes", async () => {
    const disk = new SimDisk(rng(3));
    const journal = await Journal.open("/j", { fs: disk.fs(), bootId: disk.bootId });
    const stream = await journal.stream("s", { limits: { recordsMax: 1000 } });
    await stream.appendMany(["a", "b", "c"]);
    await stream.consumer("reader").ack(2);
    const fs = disk.fs();
    expect((await fs.readdir("/j/lock")).filter((f) => f.startsWith("writer."))).toHaveLength(1);
    const [streamDir] = await fs.readdir("/j/streams");
    const files = await fs.readdir(`/j/streams/${streamDir}`);
    expect(files).toEqual(expect.arrayContaining(["stream.json", "consumers"]));
    expect(await fs.readdir(`/j/streams/${streamDir}/consumers`)).toHaveLength(1);
    expect(await fs.readdir("/j")).toEqual(
      expect.arrayContaining(["tidemark.json", "lock", "log", "streams"]),
    );
    await journal.close();
    expect((await fs.readdir("/j/lock")).filter((f) => f.startsWith("released."))).toHaveLength(1);
    expect(existsSync("/j")).toBe(false); // nothing reached the real disk
  });

  it("can always be taken again after a power loss at any point of open, append and close, with no cleanup", async () => {
    // Count the operations of one whole run, then cut the power after each of them in turn.
    const run = async (disk: SimDisk) => {
      const journal = await Journal.open("/j", { fs: disk.fs(), bootId: disk.bootId });
      await (await journal.stream("s")).append("x");
      await journal.close();
    };
    const counting = new SimDisk(rng(1));
    await run(counting);
    const total = counting.ops;
    expect(total).toBeGreaterThan(20);
    let claimsSeenWhole = 0;
    for (let n = 0; n <= total; n++) {
      for (const seed of [1, 2, 3]) {
        const disk = new SimDisk(rng(seed * 1000 + n));
        disk.crashAfterOps(n);
        await run(disk).catch((err: unknown) => {
          if (!disk.crashed) throw err;
        });
        const rebooted = disk.afterCrash(seed * 7 + n);
        const lock = await rebooted
          .fs()
          .readdir("/j/lock")
          .catch(() => []);
        for (const name of lock.filter((f) => f.startsWith("writer."))) {
          // A claim that survived the power loss is whole: it was synced before it was linked.
          const file = await rebooted.fs().open(`/j/lock/${name}`, "read");
          const bytes = Buffer.alloc(4096);
          const length = await file.read(bytes, 0, bytes.byteLength, 0);
          await file.close();
          expect(
            () => JSON.parse(bytes.subarray(0, length).toString()),
            `${n}/${seed}`,
          ).not.toThrow();
          claimsSeenWhole++;
        }
        const journal = await Journal.open("/j", { fs: rebooted.fs(), bootId: rebooted.bootId });
        await journal.close();
      }
    }
    expect(claimsSeenWhole).toBeGreaterThan(10);
  }, 120_000);
});
