/**
 * The outbox against a real HTTP upstream on loopback (test/support/flaky-upstream.ts) that
 * misbehaves on purpose: ordering per key, exactly-once through lost answers, conflicts and dead
 * letters kept until the user decides, backoff and Retry-After, stop, restarts, bad input.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { HttpUpstream, Journal, Outbox, TidemarkError } from "../../src/index.js";
import {
  CALM,
  type FlakyUpstream,
  readApplied,
  startFlakyUpstream,
} from "../support/flaky-upstream.js";
import { tempDir } from "../support/tmp-dir.js";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function upstreamIn(dir: string, chaos = CALM, seed = 7): Promise<FlakyUpstream> {
  const upstream = await startFlakyUpstream({ dir, chaos, seed });
  cleanup.push(() => upstream.stop());
  return upstream;
}

async function journalAt(dir: string): Promise<Journal> {
  const journal = await Journal.open(dir);
  cleanup.push(() => journal.close());
  return journal;
}

const fast = { initialMs: 10, maxMs: 200 };

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Entry bodies are "<key>#<n>": per key, n must be applied in order, each once. */
function checkOrderAndOnce(applied: Array<{ body: string }>, expected: Map<string, number>) {
  const seen = new Map<string, number[]>();
  for (const { body } of applied) {
    const [key, n] = body.split("#") as [string, string];
    const list = seen.get(key) ?? [];
    list.push(Number(n));
    seen.set(key, list);
  }
  for (const [key, count] of expected) {
    expect(seen.get(key), `key ${key}`).toEqual(Array.from({ length: count }, (_, i) => i));
  }
  expect([...seen.keys()].sort()).toEqual([...expected.keys()].sort());
}

async function enqueueKeyed(outbox: Outbox, keys: number, perKey: number): Promise<void> {
  const expected = new Map<string, number>();
  const writes: Promise<string>[] = [];
  for (let n = 0; n < perKey; n++) {
    for (let k = 0; k < keys; k++) {
      const key = `k${k}`;
      expected.set(key, perKey);
      writes.push(outbox.enqueue({ key, target: `/events/${key}`, body: `${key}#${n}` }));
    }
  }
  await Promise.all(writes);
}

describe("outbox delivery", () => {
  it("delivers every entry once, in order per key, and wakes at once on enqueue", async () => {
    const dir = tempDir("outbox");
    const upstream = await upstreamIn(dir);
    const journal = await journalAt(dir);
    const outbox = await Outbox.open(journal, "sync", {
      upstream: new HttpUpstream({ baseUrl: upstream.url }),
      concurrency: 4,
      backoff: fast,
    });
    outbox.start();
    await enqueueKeyed(outbox, 10, 20);
    await within(outbox.idle(), 20_000, "delivering 200 entries");
    const expected = new Map(Array.from({ length: 10 }, (_, k) => [`k${k}`, 20] as const));
    checkOrderAndOnce(readApplied(dir), expected);
    expect(outbox.stats()).toMatchObject({ pending: 0, inFlight: 0, delivered: 200 });
    // Every request carried the entry's idempotency key, unique per entry.
    const keys = upstream.log.map((r) => r.key);
    expect(new Set(keys).size).toBe(200);

    // An idle outbox delivers a new entry at once, not on a polling interval.
    const started = performance.now();
    await outbox.enqueue({ body: "late#0", key: "late" });
    await within(outbox.idle(), 5000, "one more");
    expect(performance.now() - started).toBeLessThan(500);
  });

  it("applies each entry once through dropped connections, 5xx and 429 bursts, slowness and lost answers", async () => {
    const dir = tempDir("outbox-chaos");
    const upstream = await upstreamIn(dir, {
      drop: 0.08,
      burst503: 0.04,
      burst429: 0.03,
      slow: 0.05,
      slowMs: 400,
      lostAnswer: 0.1,
    });
    const journal = await journalAt(dir);
    const outbox = await Outbox.open(journal, "sync", {
      upstream: new HttpUpstream({ baseUrl: upstream.url, timeoutMs: 250 }),
      concurrency: 6,
      attemptsMax: 1000,
      backoff: fast,
    });
    outbox.start();
    await enqueueKeyed(outbox, 12, 25);
    await within(outbox.idle(), 60_000, "delivering through chaos");
    const expected = new Map(Array.from({ length: 12 }, (_, k) => [`k${k}`, 25] as const));
    checkOrderAndOnce(readApplied(dir), expected);
    const stats = outbox.stats();
    expect(stats).toMatchObject({ pending: 0, conflicts: 0, deadLetters: 0, delivered: 300 });
    // The chaos happened: entries were sent more than once, under the same key each time.
    expect(stats.failedAttempts).toBeGreaterThan(10);
    expect(upstream.requests).toBeGreaterThan(300);
    const perKey = new Map<string, number>();
    for (const { key } of upstream.log) if (key) perKey.set(key, (perKey.get(key) ?? 0) + 1);
    expect(perKey.size).toBe(300);
    expect(Math.max(...perKey.values())).toBeGreaterThan(1);
  });
});

describe("conflicts and dead letters", () => {
  it("keeps a precondition conflict with the upstream's answer, and retries it with a new ETag", async () => {
    const dir = tempDir("outbox-conflict");
    const upstream = await upstreamIn(dir);
    const journal = await journalAt(dir);
    const outbox = await Outbox.open(journal, "items", {
      upstream: new HttpUpstream({ baseUrl: upstream.url }),
      backoff: fast,
    });
    outbox.start();
    await outbox.enqueue({
      key: "a",
      method: "PUT",
      target: "/items/a",
      body: "first",
      precondition: { ifMatch: '"v0"' },
    });
    const stale = await outbox.enqueue({
      key: "a",
      method: "PUT",
      target: "/items/a",
      body: "second, written against v0",
      precondition: { ifMatch: '"v0"' },
    });
    await within(outbox.idle(), 10_000, "two PUTs");
    const conflicts = outbox.conflicts();
    expect(conflicts.map((c) => c.id)).toEqual([stale]);
    expect(conflicts[0]).toMatchObject({
      state: "conflict",
      method: "PUT",
      target: "/items/a",
      precondition: { ifMatch: '"v0"' },
      answer: { status: 412, body: 'stale: the item is at "v1"' },
    });
    expect(conflicts[0]!.answer!.headers["etag"]).toBe('"v1"');
    expect(Buffer.from(await outbox.body(stale)).toString()).toBe("second, written against v0");
    expect(outbox.stats()).toMatchObject({ pending: 0, conflicts: 1, deadLetters: 0 });

    // Explicitly retried, with the ETag the answer carried: it lands, and keeps its id.
    expect(await outbox.retry(stale, { precondition: { ifMatch: '"v1"' } })).toBe(stale);
    await within(outbox.idle(), 10_000, "the retry");
    expect(outbox.conflicts()).toEqual([]);
    expect(readApplied(dir).map((a) => a.body)).toEqual(["first", "second, written against v0"]);
    // The retry used a new idempotency key (the upstream had answered the old one).
    const keysOfStale = new Set(
      upstream.log.filter((r) => r.path === "/items/a").map((r) => r.key),
    );
    expect(keysOfStale.size).toBe(3);
  });

  it("moves permanent rejections to dead letters, keeps them across restarts, and drops them only when told", async () => {
    const dir = tempDir("outbox-dead");
    const upstream = await upstreamIn(dir);
    let journal = await Journal.open(dir);
    let outbox = await Outbox.open(journal, "sync", {
      upstream: new HttpUpstream({ baseUrl: upstream.url }),
      backoff: fast,
    });
    outbox.start();
    const bad = await outbox.enqueue({ key: "k", body: "REJECT me" });
    await outbox.enqueue({ key: "k", body: "fine after it" });
    await within(outbox.idle(), 10_000, "delivery");
    expect(outbox.deadLetters()).toMatchObject([
      { id: bad, state: "dead", answer: { status: 400 }, reason: "the upstream answered 400" },
    ]);
    // The next entry of the same key was not held up by the rejected one.
    expect(readApplied(dir).map((a) => a.body)).toEqual(["fine after it"]);
    await journal.close();

    journal = await Journal.open(dir);
    cleanup.push(() => journal.close());
    outbox = await Outbox.open(journal, "sync", {
      upstream: new HttpUpstream({ baseUrl: upstream.url }),
    });
    expect(outbox.deadLetters().map((d) => d.id)).toEqual([bad]);
    expect(Buffer.from(await outbox.body(bad)).toString()).toBe("REJECT me");
    await outbox.discard(bad);
    expect(outbox.deadLetters()).toEqual([]);
    await expect(outbox.discard(bad)).rejects.toMatchObject({ code: "NOT_FOUND" });
    await journal.close();

    journal = await Journal.open(dir);
    outbox = await Outbox.open(journal, "sync", {
      upstream: new HttpUpstream({ baseUrl: upstream.url }),
    });
    expect(outbox.deadLetters()).toEqual([]);
    expect(outbox.stats().pending).toBe(0);
  });

  it("gives up on an entry after attemptsMax, or ageMsMax, and keeps it as a dead letter", async () => {
    const server = await plainServer((_req, res) => {
      res.writeHead(500);
      res.end("internal error");
    });
    const journal = await journalAt(tempDir("outbox-attempts"));
    const outbox = await Outbox.open(journal, "sync", {
      upstream: new HttpUpstream({ baseUrl: server.url }),
      attemptsMax: 3,
      backoff: { initialMs: 5, maxMs: 20 },
    });
    outbox.start();
    const id = await outbox.enqueue({ body: "poison" });
    await within(outbox.idle(), 10_000, "giving up");
    const [dead] = outbox.deadLetters();
    expect(dead).toMatchObject({ id, attempts: 3 });
    expect(dead!.reason).toMatch(
      /failed 3 attempts \(attemptsMax\); last error: the upstream answered 500/,
    );
    expect(server.requests()).toBe(3);

    const aging = await Outbox.open(journal, "aging", {
      upstream: new HttpUpstream({ baseUrl: server.url }),
      attemptsMax: 1000,
      ageMsMax: 100,
      backoff: { initialMs: 30, maxMs: 60 },
    });
    aging.start();
    const old = await aging.enqueue({ body: "too old" });
    await within(aging.idle(), 10_000, "aging out");
    expect(aging.deadLetters()[0]).toMatchObject({ id: old });
    expect(aging.deadLetters()[0]!.reason).toMatch(/ageMsMax/);
  });
});

describe("backoff", () => {
  it("honours Retry-After on a 429, pausing without counting the attempt", async () => {
    const times: number[] = [];
    const server = await plainServer((_req, res) => {
      times.push(Date.now());
      if (times.length === 1) {
        res.writeHead(429, { "retry-after": "1" });
        res.end();
      } else {
        res.writeHead(204);
        res.end();
      }
    });
    const journal = await journalAt(tempDir("outbox-429"));
    const outbox = await Outbox.open(journal, "sync", {
      upstream: new HttpUpstream({ baseUrl: server.url }),
      backoff: { initialMs: 10, maxMs: 5000 },
    });
    outbox.start();
    await outbox.enqueue({ body: "x" });
    await within(outbox.idle(), 10_000, "after Retry-After");
    expect(times.length).toBe(2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(950);
    expect(outbox.get("1")).toBeUndefined(); // delivered: nothing held
  });

  it("probes a down upstream once per interval instead of hammering it, and empties fast once it is back", async () => {
    const dir = tempDir("outbox-down");
    const upstream = await upstreamIn(dir, { ...CALM, drop: 1 });
    const journal = await journalAt(dir);
    const outbox = await Outbox.open(journal, "sync", {
      upstream: new HttpUpstream({ baseUrl: upstream.url }),
      concurrency: 8,
      backoff: { initialMs: 50, maxMs: 400 },
    });
    outbox.start();
    await enqueueKeyed(outbox, 40, 5);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    // 200 entries, 2 s: without the down state this would be hundreds of requests.
    expect(upstream.requests).toBeLessThan(30);
    expect(outbox.stats()).toMatchObject({ upstreamDown: true, pending: 200, deadLetters: 0 });
    upstream.chaos = CALM;
    const back = performance.now();
    await within(outbox.idle(), 20_000, "after recovery");
    expect(performance.now() - back).toBeLessThan(5000);
    expect(outbox.stats()).toMatchObject({ upstreamDown: false, delivered: 200 });
    checkOrderAndOnce(
      readApplied(dir),
      new Map(Array.from({ length: 40 }, (_, k) => [`k${k}`, 5] as const)),
    );
  });
});

describe("stop, restart and bad input", () => {
  it("stop waits for attempts in flight, aborts them past the timeout, and a restart delivers the rest once", async () => {
    const dir = tempDir("outbox-stop");
    const upstream = await upstreamIn(dir, { ...CALM, slow: 1, slowMs: 300 });
    let journal = await Journal.open(dir);
    let outbox = await Outbox.open(journal, "sync", {
      upstream: new HttpUpstream({ baseUrl: upstream.url }),
      backoff: fast,
    });
    outbox.start();
    await outbox.enqueue({ key: "k", body: "k#0" });
    await waitUntil(() => upstream.requests === 1);
    const stopping = performance.now();
    await outbox.stop();
    expect(performance.now() - stopping).toBeGreaterThan(150); // it waited for the answer
    expect(outbox.stats()).toMatchObject({ pending: 0, delivered: 1 });

    upstream.chaos = { ...CALM, slow: 1, slowMs: 1500 };
    outbox.start();
    await outbox.enqueue({ key: "k", body: "k#1" });
    await outbox.enqueue({ key: "k", body: "k#2" });
    await waitUntil(() => upstream.requests === 2);
    await outbox.stop(50); // cut short: the entry stays pending
    expect(outbox.stats().pending).toBe(2);
    await journal.close();

    upstream.chaos = CALM;
    journal = await Journal.open(dir);
    cleanup.push(() => journal.close());
    outbox = await Outbox.open(journal, "sync", {
      upstream: new HttpUpstream({ baseUrl: upstream.url }),
      backoff: fast,
    });
    expect(outbox.pending().map((p) => p.id)).toEqual(["2", "3"]);
    outbox.start();
    await within(outbox.idle(), 10_000, "after restart");
    await new Promise((resolve) => setTimeout(resolve, 1600)); // the abandoned slow request lands
    checkOrderAndOnce(readApplied(dir), new Map([["k", 3]]));
  });

  it("refuses bad entries and options with typed errors, and stores nothing for them", async () => {
    const journal = await journalAt(tempDir("outbox-bad"));
    const upstream = new HttpUpstream({ baseUrl: "http://127.0.0.1:9" });
    await expect(Outbox.open(journal, "../x", { upstream })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(Outbox.open(journal, "x", { upstream, concurrency: 0 })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    expect(() => new HttpUpstream({ baseUrl: "ftp://x" })).toThrow(TidemarkError);
    const outbox = await Outbox.open(journal, "x", { upstream, entriesMax: 2, bodyBytesMax: 10 });
    await expect(Outbox.open(journal, "x", { upstream })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    const bad: Array<Record<string, unknown>> = [
      { body: 42 },
      { body: "x".repeat(11) },
      { body: "x", target: "http://elsewhere/" },
      { body: "x", target: "//elsewhere/x" },
      { body: "x", method: "GET" },
      { body: "x", key: "" },
      { body: "x", headers: { "idempotency-key": "mine" } },
      { body: "x", headers: { "bad header": "x" } },
      { body: "x", headers: { ok: "line\r\nbreak" } },
      { body: "x", precondition: { ifMatch: "no-quotes" } },
      { body: "x", precondition: { ifUnmodifiedSince: "not a date" } },
    ];
    for (const input of bad) {
      await expect(outbox.enqueue(input as never), JSON.stringify(input)).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
      });
    }
    expect(outbox.stats().pending).toBe(0);
    await outbox.enqueue({ body: "a" });
    await outbox.enqueue({ body: "b" });
    await expect(outbox.enqueue({ body: "c" })).rejects.toMatchObject({ code: "OUTBOX_FULL" });
    expect(outbox.stats().pending).toBe(2);
    await expect(outbox.retry("404")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function plainServer(
  handler: Parameters<typeof createServer>[1],
): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    req.resume();
    req.on("end", () => handler!(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanup.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
  };
}
