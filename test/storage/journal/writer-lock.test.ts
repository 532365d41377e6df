import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Journal } from "../../../src/index.js";
import { spawnChild } from "../../support/child.js";
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
