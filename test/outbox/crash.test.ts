/**
 * The delivering process SIGKILLed at random moments, ten times, while a real upstream (its own
 * process, restarted by SIGKILL too) drops connections, answers 5xx and 429 bursts, is slow and
 * loses answers after applying. Afterwards every entry was applied exactly once, in order per
 * key, nothing is pending, and the conflicts and dead letters are exactly the entries meant to
 * land there.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HttpUpstream, Journal, Outbox } from "../../src/index.js";
import { type Child, spawnChild } from "../support/child.js";
import { type Chaos, readApplied } from "../support/flaky-upstream.js";
import { freePort } from "../support/free-port.js";
import { rng } from "../support/sim-disk.js";
import { tempDir } from "../support/tmp-dir.js";

const KILLS = 10;
const KEYS = 20;
const PER_KEY = 60;
const CHAOS: Chaos = {
  drop: 0.05,
  burst503: 0.03,
  burst429: 0.02,
  slow: 0.03,
  slowMs: 500,
  lostAnswer: 0.08,
};

describe("outbox crash: SIGKILL of the delivering process and of the upstream", () => {
  it(`applies every entry exactly once over ${KILLS} kills, and holds exactly the conflicts and rejections`, async () => {
    const dir = tempDir("outbox-crash");
    const journalDir = join(dir, "journal");
    const upstreamDir = join(dir, "upstream");
    mkdirSync(upstreamDir);
    const random = rng(42);

    // Enqueue everything first: normal entries, entries that will conflict, entries rejected.
    const journal = await Journal.open(journalDir);
    const outbox = await Outbox.open(journal, "sync", {
      upstream: new HttpUpstream({ baseUrl: "http://127.0.0.1:9" }),
    });
    const conflictIds: string[] = [];
    const rejectedIds: string[] = [];
    for (let n = 0; n < PER_KEY; n++) {
      for (let k = 0; k < KEYS; k++) {
        await outbox.enqueue({ key: `k${k}`, target: `/events/k${k}`, body: `k${k}#${n}` });
      }
      if (n % 6 === 0) {
        conflictIds.push(
          await outbox.enqueue({
            method: "PUT",
            target: `/items/c${n}`,
            body: `conflict ${n}`,
            precondition: { ifMatch: '"v9"' },
          }),
        );
        rejectedIds.push(await outbox.enqueue({ key: `k${n % KEYS}`, body: `REJECT ${n}` }));
      }
    }
    await journal.close();

    const port = await freePort();
    let seed = 1;
    const startUpstream = async (): Promise<Child> => {
      const child = spawnChild("flaky-upstream.ts", [
        upstreamDir,
        String(port),
        String(seed++),
        JSON.stringify(CHAOS),
      ]);
      await child.waitFor(/^listening/);
      return child;
    };
    let upstream = await startUpstream();
    const url = `http://127.0.0.1:${port}`;
    try {
      for (let kill = 0; kill < KILLS; kill++) {
        const deliverer = spawnChild("outbox-deliver.ts", [journalDir, url]);
        await deliverer.waitFor(/^started/);
        await new Promise((resolve) => setTimeout(resolve, 20 + random() * 400));
        deliverer.process.kill("SIGKILL");
        await deliverer.exited;
        if (kill % 3 === 2) {
          upstream.process.kill("SIGKILL");
          await upstream.exited;
          upstream = await startUpstream();
        }
      }
      // The kills landed mid-delivery: some was delivered, some was left for the last run.
      const beforeLast = readApplied(upstreamDir).length;
      expect(beforeLast).toBeGreaterThan(0);
      expect(beforeLast).toBeLessThan(KEYS * PER_KEY);
      const last = spawnChild("outbox-deliver.ts", [journalDir, url]);
      await last.waitFor(/^idle/, 60_000);
      last.process.kill("SIGKILL");
      await last.exited;

      // Killed right after it emptied: the last few deliveries may not be logged yet (they are
      // logged in batches). Reopened, the outbox sends those again under the same idempotency
      // keys; the upstream applies nothing twice.
      const reopened = await Journal.open(journalDir);
      const after = await Outbox.open(reopened, "sync", {
        upstream: new HttpUpstream({ baseUrl: url, timeoutMs: 300 }),
        attemptsMax: 1000,
        backoff: { initialMs: 10, maxMs: 200 },
      });
      after.start();
      await after.idle();
      expect(after.stats().pending).toBe(0);
      expect(
        after
          .conflicts()
          .map((c) => c.id)
          .sort(),
      ).toEqual([...conflictIds].sort());
      expect(
        after
          .deadLetters()
          .map((d) => d.id)
          .sort(),
      ).toEqual([...rejectedIds].sort());
      expect(after.conflicts().every((c) => c.answer?.status === 412)).toBe(true);
      expect(after.deadLetters().every((d) => d.answer?.status === 400)).toBe(true);
      await reopened.close();
    } finally {
      upstream.process.kill("SIGKILL");
      await upstream.exited;
    }

    // Exactly once, in order per key.
    const applied = readApplied(upstreamDir);
    const perKey = new Map<string, number[]>();
    for (const { body } of applied) {
      expect(body).not.toMatch(/^(REJECT|conflict)/);
      const [key, n] = body.split("#") as [string, string];
      perKey.set(key, [...(perKey.get(key) ?? []), Number(n)]);
    }
    expect(perKey.size).toBe(KEYS);
    for (const [key, ns] of perKey) {
      expect(ns, key).toEqual(Array.from({ length: PER_KEY }, (_, i) => i));
    }
    // Every attempt of an entry carried one key, and each key was applied once.
    expect(new Set(applied.map((a) => a.key)).size).toBe(applied.length);
    // The bound is for a hang: 10 restarts of two processes take 22 s alone here, 55 s at a
    // load average of 10 on the 2 cores.
  }, 300_000);
});
