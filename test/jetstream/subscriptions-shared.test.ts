/**
 * Subscriptions shared by `tidemark serve --nats` processes (docs/jetstream.md, "Shared
 * records"): a pull-wake subscription made through one process wakes on an append through the
 * other; claims racing through both have exactly one winner; a claim's token acknowledges through
 * either process and an old generation is fenced through either; a lease taken through a process
 * that is then SIGKILLed ends anyway and the work is claimed through the survivor; a webhook sent
 * by either process verifies with the JWKS served by either (one key pair); a stream made through
 * one process right after a subscription was made through the other wakes it; a process started
 * later, with an empty directory, sees the subscriptions with their acknowledged offsets.
 */
import { createPublicKey, verify } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNatsServer } from "../support/nats.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import { tempDir } from "../support/tmp-dir.js";

const LEASE_MS = 1000;

interface Claim {
  wake_id: string;
  generation: number;
  token: string;
  streams: Array<{ path: string; tail_offset: string }>;
}

describe("subscriptions shared by two processes on one JetStream", () => {
  let nats: NatsServer | undefined;
  const servers: ServerProcess[] = [];
  beforeAll(async () => {
    nats = await startNatsServer({ syncAlways: true });
    for (const name of ["a", "b"]) {
      servers.push(
        await startServerProcess(tempDir(`tidemark-subs-${name}`), ["--nats", nats.url]),
      );
    }
  }, 120_000);
  afterAll(async () => {
    for (const server of servers) {
      server.child.process.kill("SIGTERM");
      await server.child.exited;
    }
    await nats?.stop();
  });
  const url = (i: number) => servers[i]!.url;

  const request = (base: string, path: string, method: string, body?: unknown, token?: string) =>
    fetch(`${base}/v1/stream/${path}`, {
      method,
      headers: {
        "content-type": "application/json",
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  async function waitFor<T>(what: string, look: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const found = await look();
      if (found !== undefined) return found;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  async function pullSubscription(
    id: string,
    base: string,
  ): Promise<{ wakes: string; events: string }> {
    const wakes = `wakes/${id}`;
    const events = `jobs/${id}/one`;
    expect((await request(base, wakes, "PUT", [])).status).toBe(201);
    const made = await request(base, `__ds/subscriptions/${id}`, "PUT", {
      type: "pull-wake",
      pattern: `jobs/${id}/*`,
      wake_stream: wakes,
      lease_ttl_ms: LEASE_MS,
    });
    expect(made.status).toBe(201);
    return { wakes, events };
  }

  const claim = (base: string, id: string, worker: string) =>
    request(base, `__ds/subscriptions/${id}/claim`, "POST", { worker });

  it("wakes on an append through the other process, and lets one of racing claims win", async () => {
    const id = "race";
    const { wakes, events } = await pullSubscription(id, url(0));
    expect((await request(url(1), events, "PUT", { job: 1 })).status).toBe(201);
    const wakeEvents = await waitFor("the wake event", async () => {
      const read = (await (await fetch(`${url(0)}/v1/stream/${wakes}?offset=-1`)).json()) as Array<{
        subscription_id: string;
      }>;
      return read.length > 0 ? read : undefined;
    });
    expect(wakeEvents).toHaveLength(1);
    expect(wakeEvents[0]!.subscription_id).toBe(id);

    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => claim(url(i % 2), id, `worker-${i}`)),
    );
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(statuses.filter((status) => status === 409)).toHaveLength(9);
    const winner = answers.find((answer) => answer.status === 200)!;
    const claimed = (await winner.json()) as Claim;
    for (const answer of answers.filter((one) => one.status === 409)) {
      const body = (await answer.json()) as { error: { code: string } };
      expect(body.error.code).toBe("ALREADY_CLAIMED");
    }

    // The token acknowledges through either process; the wake is then over everywhere.
    const tail = claimed.streams.find((stream) => stream.path === events)!.tail_offset;
    const ack = {
      wake_id: claimed.wake_id,
      generation: claimed.generation,
      acks: [{ stream: events, offset: tail }],
      done: true,
    };
    const first = await request(url(1), `__ds/subscriptions/${id}/ack`, "POST", ack, claimed.token);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ ok: true, next_wake: false });
    const again = await request(url(0), `__ds/subscriptions/${id}/ack`, "POST", ack, claimed.token);
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe("FENCED");
    const view = (await (await request(url(0), `__ds/subscriptions/${id}`, "GET")).json()) as {
      streams: Array<{ path: string; acked_offset: string }>;
    };
    expect(view.streams).toEqual([expect.objectContaining({ path: events, acked_offset: tail })]);
  });

  it("ends a lease taken through a process that was SIGKILLed, and the survivor hands the work on", async () => {
    const id = "failover";
    const { events } = await pullSubscription(id, url(1));
    expect((await request(url(1), events, "PUT", { job: 1 })).status).toBe(201);
    const first = await waitFor("a claim", async () => {
      const answer = await claim(url(1), id, "doomed");
      return answer.status === 200 ? ((await answer.json()) as Claim) : undefined;
    });
    const busy = await claim(url(0), id, "other");
    expect(busy.status).toBe(409);

    const victim = servers[1]!;
    victim.child.process.kill("SIGKILL");
    await victim.child.exited;

    // The lease was set by the dead process; the survivor ends it when its time is past.
    const second = await waitFor("a claim after the lease", async () => {
      const answer = await claim(url(0), id, "survivor");
      return answer.status === 200 ? ((await answer.json()) as Claim) : undefined;
    });
    expect(second.generation).toBeGreaterThan(first.generation);
    const stale = await request(
      url(0),
      `__ds/subscriptions/${id}/ack`,
      "POST",
      { wake_id: first.wake_id, generation: first.generation, acks: [] },
      first.token,
    );
    expect(stale.status).toBe(409);

    // A process started later, with nothing in its directory, has the subscription too.
    servers[1] = await startServerProcess(tempDir("tidemark-subs-c"), ["--nats", nats!.url]);
    const view = (await (await request(url(1), `__ds/subscriptions/${id}`, "GET")).json()) as {
      type: string;
      streams: Array<{ path: string }>;
    };
    expect(view.type).toBe("pull-wake");
    expect(view.streams.map((stream) => stream.path)).toEqual([events]);
    // It knows the wake's generation: either the survivor still holds it, or (its lease over
    // while this process started) the next claim is one generation up.
    const third = await claim(url(1), id, "third");
    const answer = (await third.json()) as Claim & {
      error?: { code: string; current_holder: string };
    };
    if (third.status === 409) {
      expect(answer.error).toEqual(
        expect.objectContaining({ code: "ALREADY_CLAIMED", current_holder: "survivor" }),
      );
    } else {
      expect(third.status).toBe(200);
      expect(answer.generation).toBe(second.generation + 1);
    }
  }, 30_000);

  it("wakes on a stream made through the other process at once after the subscription", async () => {
    // The other process may not have heard of the subscription when the stream is made there:
    // it links what it missed when it hears.
    const woken = new Set<string>();
    const receiver: Server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => {
        body += chunk.toString("utf8");
      });
      req.on("end", () => {
        woken.add((JSON.parse(body) as { subscription_id: string }).subscription_id);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ done: true }));
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    try {
      const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const ids = Array.from({ length: 20 }, (_, i) => `quick-${i}`);
      for (const [i, id] of ids.entries()) {
        const made = await request(url(0), `__ds/subscriptions/${id}`, "PUT", {
          type: "webhook",
          pattern: `quick${i}/*`,
          webhook: { url: hook },
        });
        expect(made.status).toBe(201);
        expect((await request(url(1), `quick${i}/x`, "PUT", { n: i })).status).toBe(201);
      }
      await waitFor("a wake for every subscription", async () =>
        ids.every((id) => woken.has(id)) ? true : undefined,
      );
      expect([...woken].sort()).toEqual([...ids].sort());
    } finally {
      receiver.closeAllConnections();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });

  it("signs webhooks sent by either process with the one key both publish", async () => {
    const received: Array<{ body: string; signature: string }> = [];
    const receiver: Server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => {
        body += chunk.toString("utf8");
      });
      req.on("end", () => {
        received.push({ body, signature: String(req.headers["webhook-signature"]) });
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ done: true }));
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    try {
      const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const made = await request(url(0), "__ds/subscriptions/hooks", "PUT", {
        type: "webhook",
        pattern: "hooked/*",
        webhook: { url: hook },
        lease_ttl_ms: LEASE_MS,
      });
      expect(made.status).toBe(201);
      const jwks = await Promise.all(
        [0, 1].map(
          async (i) =>
            (await (await request(url(i), "__ds/jwks.json", "GET")).json()) as {
              keys: Array<{ kid: string; x: string }>;
            },
        ),
      );
      expect(jwks[0]!.keys).toHaveLength(1);
      expect(jwks[1]).toEqual(jwks[0]);
      for (const i of [0, 1]) {
        expect((await request(url(i), `hooked/from-${i}`, "PUT", { n: i })).status).toBe(201);
        await waitFor(`the webhook of an append through process ${i}`, async () =>
          received.length > i ? true : undefined,
        );
      }
      const key = createPublicKey({
        key: { ...jwks[0]!.keys[0]!, kty: "OKP", crv: "Ed25519" },
        format: "jwk",
      });
      for (const { body, signature } of received) {
        const parts = Object.fromEntries(signature.split(",").map((part) => part.split("=")));
        expect(parts["kid"]).toBe(jwks[0]!.keys[0]!.kid);
        const signed = Buffer.from(`${parts["t"]}.${body}`);
        expect(verify(null, signed, key, Buffer.from(parts["ed25519"]!, "base64url"))).toBe(true);
      }
    } finally {
      receiver.closeAllConnections();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });
});
