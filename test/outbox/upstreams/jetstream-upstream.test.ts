/**
 * Delivering an outbox to NATS JetStream (real nats-server processes on loopback): each entry
 * once with its idempotency key as Nats-Msg-Id, in order per key; a SIGKILLed server marks the
 * upstream down and loses nothing; a body over max_payload, a stale subject sequence and a
 * duplicate window too short for exactly-once each get a clear answer instead of endless retries.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { JetStreamUpstream, Journal, Outbox } from "../../../src/index.js";
import { jetStreamWindowMsMin } from "../../../src/outbox/index.js";
import { startServer } from "../../../src/server/server.js";
import { type NatsServer, startNatsServer } from "../../support/nats.js";
import { memoryLogger } from "../../support/silent-logger.js";
import { tempDir } from "../../support/tmp-dir.js";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

const SECOND_NS = 1_000_000_000;

async function natsWithStream(
  options: { syncAlways?: boolean; maxPayload?: number; windowS?: number } = {},
): Promise<{ server: NatsServer; nc: NatsConnection }> {
  const server = await startNatsServer({
    syncAlways: options.syncAlways ?? true,
    ...(options.maxPayload === undefined ? {} : { maxPayload: options.maxPayload }),
  });
  cleanup.push(() => server.kill());
  const nc = await connect({
    servers: server.url,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  cleanup.push(() => nc.close());
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: "EDGE",
    subjects: ["edge.>"],
    duplicate_window: (options.windowS ?? 120) * SECOND_NS,
  });
  return { server, nc };
}

interface Stored {
  subject: string;
  msgId: string;
  body: string;
}

/** Every message of the stream EDGE, in stream order. */
async function readStream(nc: NatsConnection): Promise<Stored[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info("EDGE");
  const out: Stored[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq++) {
    const message = await jsm.streams.getMessage("EDGE", { seq });
    if (message === null) continue;
    out.push({
      subject: message.subject,
      msgId: message.header.get("Nats-Msg-Id"),
      body: message.string(),
    });
  }
  return out;
}

async function edgeOutbox(
  upstream: JetStreamUpstream,
  options: Partial<Parameters<typeof Outbox.open>[2]> = {},
): Promise<Outbox> {
  const journal = await Journal.open(tempDir("js-outbox"));
  cleanup.push(() => journal.close());
  const outbox = await Outbox.open(journal, "edge", {
    upstream,
    concurrency: 8,
    backoff: { initialMs: 20, maxMs: 200 },
    ...options,
  });
  cleanup.push(() => outbox.close());
  return outbox;
}

/** Polls `condition` (the state under test) until it holds; fails after `timeoutMs`. */
async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("JetStreamUpstream", () => {
  it("publishes each entry once, its idempotency key as Nats-Msg-Id, in order per key", async () => {
    const { server, nc } = await natsWithStream();
    const upstream = new JetStreamUpstream({
      servers: server.url,
      stream: "EDGE",
      subjectPrefix: "edge",
    });
    const outbox = await edgeOutbox(upstream);
    outbox.start();
    for (let n = 0; n < 40; n++) {
      for (const key of ["a", "b", "c"]) {
        await outbox.enqueue({
          key,
          target: `/orders/${key}`,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ key, n }),
        });
      }
    }
    await outbox.idle();
    const stored = await readStream(nc);
    expect(stored).toHaveLength(120);
    expect(new Set(stored.map((m) => m.msgId)).size).toBe(120);
    for (const key of ["a", "b", "c"]) {
      const mine = stored.filter((m) => m.subject === `edge.orders.${key}`);
      expect(mine.map((m) => JSON.parse(m.body))).toEqual(
        Array.from({ length: 40 }, (_, n) => ({ key, n })),
      );
    }
    expect(outbox.stats()).toMatchObject({ pending: 0, deadLetters: 0, delivered: 120 });
  });

  it("takes a duplicate acknowledgement (a retry the stream already holds) as delivered", async () => {
    const { server, nc } = await natsWithStream();
    const upstream = new JetStreamUpstream({ servers: server.url, stream: "EDGE" });
    cleanup.push(() => upstream.close());
    const delivery = {
      id: "1",
      key: null,
      method: "POST",
      target: "/edge/once",
      headers: {},
      body: new TextEncoder().encode("once"),
      precondition: null,
      idempotencyKey: "instance:1",
      sequence: 0,
      source: "instance",
      attempt: 1,
    };
    const signal = new AbortController().signal;
    expect(await upstream.deliver(delivery, signal)).toEqual({ kind: "delivered", status: 201 });
    expect(await upstream.deliver({ ...delivery, attempt: 2 }, signal)).toEqual({
      kind: "delivered",
      status: 208,
    });
    expect(await readStream(nc)).toEqual([
      { subject: "edge.once", msgId: "instance:1", body: "once" },
    ]);
  });

  it("waits while nats-server is SIGKILLed, then delivers everything once when it is back", async () => {
    const { server, nc } = await natsWithStream();
    const upstream = new JetStreamUpstream({
      servers: server.url,
      stream: "EDGE",
      subjectPrefix: "edge",
      timeoutMs: 1_000,
    });
    const outbox = await edgeOutbox(upstream, { attemptsMax: 1_000 });
    outbox.start();
    const enqueue = async (from: number, count: number) => {
      for (let n = from; n < from + count; n++) {
        await outbox.enqueue({ key: `k${n % 4}`, target: `/k${n % 4}`, body: String(n) });
      }
    };
    await enqueue(0, 100); // delivery under way when the server dies
    await server.kill();
    await enqueue(100, 100);
    await until(() => outbox.stats().upstreamDown);
    expect(outbox.stats().pending).toBeGreaterThan(0);
    await server.restart();
    await outbox.idle();
    const stored = await readStream(nc);
    expect(stored.map((m) => Number(m.body)).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 200 }, (_, n) => n),
    );
    for (let k = 0; k < 4; k++) {
      const mine = stored.filter((m) => m.subject === `edge.k${k}`).map((m) => Number(m.body));
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
    }
    expect(outbox.stats()).toMatchObject({ pending: 0, deadLetters: 0, upstreamDown: false });
  });

  it("puts a body over the server's max_payload in dead letters, and goes on with the key", async () => {
    const { server, nc } = await natsWithStream({ maxPayload: 8 * 1024 });
    const upstream = new JetStreamUpstream({
      servers: server.url,
      stream: "EDGE",
      subjectPrefix: "edge",
    });
    const outbox = await edgeOutbox(upstream);
    outbox.start();
    const big = await outbox.enqueue({ key: "k", target: "/big", body: "x".repeat(20_000) });
    await outbox.enqueue({ key: "k", target: "/big", body: "small" });
    await outbox.idle();
    const dead = outbox.deadLetters();
    expect(dead.map((d) => d.id)).toEqual([big]);
    expect(dead[0]!.reason).toMatch(/20000 bytes .*at most 8192 bytes.*max_payload/);
    expect((await readStream(nc)).map((m) => m.body)).toEqual(["small"]);
    expect(outbox.stats().failedAttempts).toBe(0);
  });

  it("checks an ifMatch precondition as the subject's last sequence: a stale one is a conflict", async () => {
    const { server, nc } = await natsWithStream();
    const upstream = new JetStreamUpstream({
      servers: server.url,
      stream: "EDGE",
      subjectPrefix: "edge",
    });
    const outbox = await edgeOutbox(upstream);
    outbox.start();
    await outbox.enqueue({
      key: "k",
      target: "/cas",
      body: "first",
      precondition: { ifMatch: '"0"' },
    });
    const stale = await outbox.enqueue({
      key: "k",
      target: "/cas",
      body: "second",
      precondition: { ifMatch: '"0"' },
    });
    await outbox.enqueue({
      key: "k",
      target: "/cas",
      body: "third",
      precondition: { ifMatch: '"1"' },
    });
    const vague = await outbox.enqueue({
      key: "k",
      target: "/cas",
      body: "fourth",
      precondition: { ifUnmodifiedSince: Date.now() },
    });
    await outbox.idle();
    expect(outbox.conflicts().map((c) => c.id)).toEqual([stale]);
    expect(outbox.conflicts()[0]!.answer?.body).toMatch(/^10071/);
    expect(outbox.deadLetters().map((d) => d.id)).toEqual([vague]);
    expect(outbox.deadLetters()[0]!.reason).toMatch(/If-Unmodified-Since/);
    expect((await readStream(nc)).map((m) => m.body)).toEqual(["first", "third"]);
  });

  it("refuses to publish while the stream's duplicate_window is too short for exactly-once", async () => {
    const { server, nc } = await natsWithStream({ windowS: 30 });
    const logger = memoryLogger();
    const upstream = new JetStreamUpstream({
      servers: server.url,
      stream: "EDGE",
      subjectPrefix: "edge",
      logger,
    });
    // The outbox's longest backoff is 60 s: 3 × 5 s + 60 s = 75 s needed.
    expect(jetStreamWindowMsMin(5_000, 60_000)).toBe(75_000);
    const outbox = await edgeOutbox(upstream, { backoff: { initialMs: 20, maxMs: 60_000 } });
    outbox.start();
    await outbox.enqueue({ target: "/w", body: "waits" });
    await until(() => outbox.stats().lastError !== null);
    expect(outbox.stats().lastError!.message).toMatch(
      /keeps message ids for 30 s \(duplicate_window\).*at least 75 s/,
    );
    expect(logger.lines.some((l) => l.message === "JetStream upstream refuses to deliver")).toBe(
      true,
    );
    expect(await readStream(nc)).toEqual([]);
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info("EDGE");
    await jsm.streams.update("EDGE", { ...info.config, duplicate_window: 120 * SECOND_NS });
    await outbox.idle();
    expect((await readStream(nc)).map((m) => m.body)).toEqual(["waits"]);
  });

  it("never resends an unanswered entry once the duplicate window may have passed", async () => {
    // A stopped (SIGSTOP) server: connected, but nothing is answered; the window is 3 s.
    const { server, nc } = await natsWithStream({ windowS: 3 });
    const upstream = new JetStreamUpstream({
      servers: server.url,
      stream: "EDGE",
      subjectPrefix: "edge",
      timeoutMs: 500,
    });
    expect(jetStreamWindowMsMin(500, 200)).toBe(1_700);
    const outbox = await edgeOutbox(upstream, { attemptsMax: 1_000 });
    outbox.start();
    await outbox.enqueue({ target: "/a", body: "before" });
    await outbox.idle();
    process.kill(server.pid!, "SIGSTOP");
    const id = await outbox.enqueue({ target: "/a", body: "unanswered" });
    await until(() => outbox.stats().failedAttempts > 0);
    // The time passing is the input here: the entry stays unanswered longer than the window.
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    process.kill(server.pid!, "SIGCONT");
    await outbox.idle();
    expect(outbox.deadLetters().map((d) => d.id)).toEqual([id]);
    expect(outbox.deadLetters()[0]!.reason).toMatch(
      /may have been stored.*duplicate_window \(3 s\)/,
    );
    // The stopped server had the first attempts in its socket: stored once when it resumed,
    // the repeats inside the window dropped, and no resend after the window.
    const bodies = (await readStream(nc)).map((m) => m.body);
    expect(bodies).toEqual(["before", "unanswered"]);
  });
});

describe("JetStream outboxes and mirrors run by tidemark serve", () => {
  it("starts them from its config and delivers what arrives over HTTP", async () => {
    const { server: nats, nc } = await natsWithStream();
    const server = await startServer({
      dir: tempDir("js-served"),
      port: 0,
      logger: memoryLogger(),
      outboxes: {
        events: { kind: "jetstream", servers: nats.url, natsStream: "EDGE", subjectPrefix: "edge" },
      },
      mirrors: [
        {
          kind: "jetstream",
          stream: "notes",
          servers: [nats.url],
          natsStream: "EDGE",
          subjectPrefix: "edge",
          target: "/notes",
        },
      ],
    });
    cleanup.push(() => server.stop());
    const enqueued = await fetch(`${server.url}/v1/outbox/events`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key: "k", target: "/orders", body: "order 1" }),
    });
    expect(enqueued.status).toBe(201);
    for (const text of ["a", "b"]) {
      await fetch(`${server.url}/v1/stream/notes`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: text,
      });
    }
    await server.outboxes.get("events")!.idle();
    await server.mirrors[0]!.idle();
    const stored = await readStream(nc);
    expect(stored.map((m) => [m.subject, m.body])).toEqual(
      expect.arrayContaining([
        ["edge.orders", "order 1"],
        ["edge.notes", "a"],
        ["edge.notes", "b"],
      ]),
    );
    expect(stored).toHaveLength(3);
    const status = (await (await fetch(`${server.url}/v1/outbox`)).json()) as {
      outboxes: Array<{ upstream: string }>;
    };
    expect(status.outboxes[0]!.upstream).toBe(`jetstream ${nats.url} stream EDGE edge.>`);
  });
});
