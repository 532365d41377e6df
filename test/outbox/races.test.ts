/**
 * Races and crash windows inside the outbox, each reached on purpose: a discard trimming the
 * held stream while another entry is being held; a snapshot while the low-water mark is not yet
 * stored, then SIGKILL; 429s with "Retry-After: 0"; retry and discard of one entry at once; a
 * sequenced upstream's number after an unclear attempt. Upstreams here are fakes of the public
 * `Upstream` interface, so the timing can be steered; the journal is real.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type Delivery, Journal, Outbox, type Upstream } from "../../src/index.js";
import { spawnChild } from "../support/child.js";
import { tempDir } from "../support/tmp-dir.js";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

const conflicting: Upstream = {
  description: "always 412",
  sequenced: false,
  deliver: async () => ({ kind: "conflict", answer: { status: 412, headers: {}, body: "" } }),
};

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The outbox's log stream, to slow its writes down (as a slow disk would). */
function logOf(outbox: Outbox): { append: (...args: unknown[]) => Promise<unknown> } {
  return (outbox as unknown as { store: { log: { append: () => Promise<unknown> } } }).store.log;
}

describe("outbox races", () => {
  it("never trims a held record that is being written while another is discarded", async () => {
    const dir = tempDir("race-held");
    let journal = await Journal.open(dir);
    let outbox = await Outbox.open(journal, "o", { upstream: conflicting });
    outbox.start();
    const a = await outbox.enqueue({ key: "a", body: "A" });
    await until(() => outbox.conflicts().length === 1);
    // B's `x` log record is held back until A's discard is under way.
    const log = logOf(outbox);
    const append = log.append.bind(log);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    log.append = async (...args: unknown[]) => {
      if (String(args[0]).includes('"t":"x"')) await gate;
      return append(...args);
    };
    const b = await outbox.enqueue({ key: "b", body: "B" });
    await until(() => outbox.get(b)?.state === "conflict");
    const discarding = outbox.discard(a);
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    await discarding;
    expect(outbox.conflicts().map((c) => c.id)).toEqual([b]);
    expect(Buffer.from(await outbox.body(b)).toString()).toBe("B");
    await journal.close();

    journal = await Journal.open(dir);
    cleanup.push(() => journal.close());
    outbox = await Outbox.open(journal, "o", { upstream: conflicting });
    expect(outbox.conflicts().map((c) => c.id)).toEqual([b]);
    expect(outbox.stats().pending).toBe(0);
  });

  it("keeps what is resolved above the stored mark through a snapshot and a SIGKILL", async () => {
    const dir = tempDir("race-mark");
    const child = spawnChild("outbox-mark-crash.ts", [dir]);
    await child.waitFor(/^snapshotted/);
    await child.exited;
    const journal = await Journal.open(dir);
    cleanup.push(() => journal.close());
    const sent: string[] = [];
    const outbox = await Outbox.open(journal, "o", {
      upstream: {
        description: "records",
        sequenced: false,
        deliver: async (d: Delivery) => {
          sent.push(Buffer.from(d.body).toString());
          return { kind: "delivered", status: 200 };
        },
      },
    });
    // E2 was discarded, E1 delivered: nothing is pending, nothing is sent again.
    expect(outbox.pending()).toEqual([]);
    expect(outbox.conflicts()).toEqual([]);
    outbox.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sent).toEqual([]);
  });

  it("does not busy-loop on 429s that say Retry-After: 0", async () => {
    let attempts = 0;
    const journal = await Journal.open(tempDir("race-429"));
    cleanup.push(() => journal.close());
    const outbox = await Outbox.open(journal, "o", {
      upstream: {
        description: "throttling",
        sequenced: false,
        deliver: async () => {
          attempts++;
          return { kind: "retry", error: "429", status: 429, throttled: true, retryAfterMs: 0 };
        },
      },
      backoff: { initialMs: 100, maxMs: 400 },
    });
    outbox.start();
    await outbox.enqueue({ body: "x" });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(attempts).toBeGreaterThan(1);
    expect(attempts).toBeLessThan(15);
    await outbox.stop();
  });

  it("lets exactly one of a retry and a discard of the same entry happen", async () => {
    const journal = await Journal.open(tempDir("race-retry-discard"));
    cleanup.push(() => journal.close());
    const outbox = await Outbox.open(journal, "o", { upstream: conflicting });
    outbox.start();
    const id = await outbox.enqueue({ body: "x" });
    await until(() => outbox.conflicts().length === 1);
    await outbox.stop();
    const results = await Promise.allSettled([
      outbox.retry(id),
      outbox.discard(id),
      outbox.retry(id),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results) {
      if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "NOT_FOUND" });
    }
    const retried = results[0]!.status === "fulfilled" || results[2]!.status === "fulfilled";
    expect(outbox.stats().pending).toBe(retried ? 1 : 0);
    expect(outbox.conflicts()).toEqual([]);
  });

  it("never gives a sequenced upstream's number to another entry after an unclear attempt", async () => {
    const journal = await Journal.open(tempDir("race-sequence"));
    cleanup.push(() => journal.close());
    const seen: Array<[string, number]> = [];
    let answerForA = 0;
    const outbox = await Outbox.open(journal, "o", {
      upstream: {
        description: "sequenced",
        sequenced: true,
        deliver: async (d: Delivery) => {
          const body = Buffer.from(d.body).toString();
          seen.push([body, d.sequence]);
          if (body === "A") {
            // First: applied, but the answer is lost. Then: refused for good.
            return answerForA++ === 0
              ? { kind: "retry", error: "timed out" }
              : { kind: "rejected", reason: "the stream is closed" };
          }
          if (body === "C") return { kind: "rejected", reason: "bad body" }; // a definite answer
          return { kind: "delivered", status: 200 };
        },
      },
      backoff: { initialMs: 5, maxMs: 10 },
    });
    outbox.start();
    await outbox.enqueue({ target: "/s", body: "A" });
    await outbox.enqueue({ target: "/s", body: "B" });
    await outbox.enqueue({ target: "/s", body: "C" });
    await outbox.enqueue({ target: "/s", body: "D" });
    await outbox.idle();
    // A may have been applied under 0: B gets 1. C was refused at once: D reuses its 2.
    expect(seen.filter(([body]) => body !== "A")).toEqual([
      ["B", 1],
      ["C", 2],
      ["D", 2],
    ]);
    expect(outbox.deadLetters().length).toBe(2);
  });
});
