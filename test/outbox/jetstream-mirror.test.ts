/**
 * Mirroring a local stream into a JetStream subject (real nats-server and mirror processes on
 * loopback): records appended while NATS is down arrive once and in order when it is back, and
 * a mirror SIGKILLed again and again, with the nats-server killed too, ends with every record
 * in the subject exactly once, in order, each under the Nats-Msg-Id `<instance>:<seq>`.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { JetStreamUpstream, Journal, Mirror } from "../../src/index.js";
import { spawnChild } from "../support/child.js";
import { type NatsServer, startNatsServer } from "../support/nats.js";
import { rng } from "../support/sim-disk.js";
import { tempDir } from "../support/tmp-dir.js";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function natsWithStream(windowS = 120): Promise<NatsServer> {
  const server = await startNatsServer({ syncAlways: true });
  cleanup.push(() => server.kill());
  const nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: "EDGE",
    subjects: ["edge.>"],
    duplicate_window: windowS * 1_000_000_000,
  });
  await nc.close();
  return server;
}

/**
 * The messages on one subject of EDGE, in order: [Nats-Msg-Id, body]. A connection of its own:
 * the server may have been restarted since the last read.
 */
async function readSubject(server: NatsServer, subject: string): Promise<Array<[string, string]>> {
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info("EDGE");
    const out: Array<[string, string]> = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq++) {
      const message = await jsm.streams.getMessage("EDGE", { seq });
      if (message?.subject === subject) {
        out.push([message.header.get("Nats-Msg-Id"), message.string()]);
      }
    }
    return out;
  } finally {
    await nc.close();
  }
}

describe("Mirror to JetStream", () => {
  it("copies records appended while NATS is down once, in order, when it is back", async () => {
    const server = await natsWithStream();
    const journal = await Journal.open(tempDir("js-mirror"));
    cleanup.push(() => journal.close());
    const src = await journal.stream("src");
    const mirror = await Mirror.open(journal, {
      stream: "src",
      upstream: new JetStreamUpstream({
        servers: server.url,
        stream: "EDGE",
        subjectPrefix: "edge",
        timeoutMs: 500,
      }),
      target: "/replica",
      backoff: { initialMs: 10, maxMs: 200 },
    });
    cleanup.push(() => mirror.close());
    mirror.start();
    await src.appendMany(Array.from({ length: 50 }, (_, n) => `r${n}`));
    await mirror.idle();
    await server.kill();
    await src.appendMany(Array.from({ length: 100 }, (_, n) => `r${50 + n}`));
    expect(mirror.stats()).toMatchObject({ behind: 100, halted: null });
    await server.restart();
    await mirror.idle();
    expect(mirror.stats()).toMatchObject({ behind: 0, position: 150, halted: null });
    const { instance } = (src.meta["mirrors"] as Record<string, { instance: string }>)["/replica"]!;
    expect(await readSubject(server, "edge.replica")).toEqual(
      Array.from({ length: 150 }, (_, n) => [`${instance}:${n + 1}`, `r${n}`]),
    );
  });

  it("skips what its subject holds already, long after the duplicate window", async () => {
    const server = await natsWithStream(1);
    const journal = await Journal.open(tempDir("js-mirror-resume"));
    cleanup.push(() => journal.close());
    const src = await journal.stream("src");
    await src.appendMany(Array.from({ length: 20 }, (_, n) => `r${n}`));
    const mirror = await Mirror.open(journal, {
      stream: "src",
      upstream: new JetStreamUpstream({
        servers: server.url,
        stream: "EDGE",
        subjectPrefix: "edge",
        timeoutMs: 100,
      }),
      target: "/replica",
      backoff: { initialMs: 10, maxMs: 200 },
    });
    cleanup.push(() => mirror.close());
    // As if a mirror had sent records 1-10 and crashed before storing its position, and the
    // stream's 1 s duplicate window has passed since: only the subject can tell.
    const { instance } = (src.meta["mirrors"] as Record<string, { instance: string }>)["/replica"]!;
    const nc = await connect({ servers: server.url });
    const js = jetstream(nc);
    for (let seq = 1; seq <= 10; seq++) {
      await js.publish("edge.replica", `r${seq - 1}`, { msgID: `${instance}:${seq}` });
    }
    await nc.close();
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // the window passes: the input
    mirror.start();
    await mirror.idle();
    expect(await readSubject(server, "edge.replica")).toEqual(
      Array.from({ length: 20 }, (_, n) => [`${instance}:${n + 1}`, `r${n}`]),
    );
  });

  it("ends with every record once and in order across SIGKILLs of the mirror and of nats-server", async () => {
    const server = await natsWithStream();
    const dir = tempDir("js-mirror-crash");
    const random = rng(11);
    let written = 0;
    const appendMore = async (count: number) => {
      const journal = await Journal.open(dir);
      const src = await journal.stream("src");
      await src.appendMany(Array.from({ length: count }, () => `r${written++}`));
      await journal.close();
    };
    await appendMore(400);
    for (let round = 0; round < 6; round++) {
      const mirror = spawnChild("jetstream-mirror-until-killed.ts", [dir, server.url]);
      await mirror.waitFor(/^started/);
      await new Promise((resolve) => setTimeout(resolve, 30 + random() * 300));
      mirror.process.kill("SIGKILL");
      await mirror.exited;
      if (round % 2 === 1) {
        await server.kill();
        await appendMore(50); // appended while NATS is down
        await server.restart();
      } else {
        await appendMore(50);
      }
    }
    // The kills landed mid-copy: part of it is there, the rest is left for the last run.
    const before = (await readSubject(server, "edge.replica")).length;
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(written);
    const last = spawnChild("jetstream-mirror-until-killed.ts", [dir, server.url]);
    const idle = await last.waitFor(/^idle/, 60_000);
    expect(JSON.parse(idle.slice(5))).toMatchObject({ halted: null, behind: 0 });
    last.process.kill("SIGKILL");
    await last.exited;
    const copied = await readSubject(server, "edge.replica");
    expect(copied.map(([, body]) => body)).toEqual(
      Array.from({ length: written }, (_, n) => `r${n}`),
    );
    expect(copied.map(([id]) => Number(id.split(":")[1]))).toEqual(
      Array.from({ length: written }, (_, n) => n + 1),
    );
  });
});
