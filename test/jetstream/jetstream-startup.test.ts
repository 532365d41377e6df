/**
 * Starting `tidemark serve --nats`: a NATS that is not there, or options that are wrong, stop it
 * at once with a typed error and no stack trace; a single-replica setup is served with a loud
 * warning about what an acknowledgement means (sync_interval cannot be seen from a client).
 */
import { describe, expect, it } from "vitest";
import { resolveJetStreamOptions } from "../../src/jetstream/index.js";
import { startServer } from "../../src/server/server.js";
import { tidemark } from "../support/cli.js";
import { freePort } from "../support/free-port.js";
import { startNatsServer } from "../support/nats.js";
import { memoryLogger } from "../support/silent-logger.js";
import { tempDir } from "../support/tmp-dir.js";

describe("tidemark serve --nats at startup", () => {
  it("refuses an unreachable NATS with STORE_UNAVAILABLE, exit 1, no stack trace", async () => {
    const port = await freePort();
    const run = await tidemark([
      "serve",
      "--dir",
      tempDir("tidemark-js-unreachable"),
      "--port",
      "0",
      "--nats",
      `nats://127.0.0.1:${port}`,
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`cannot connect to NATS at nats://127.0.0.1:${port}`);
    expect(run.stderr).toContain("[STORE_UNAVAILABLE]");
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it("checks the nats options to the leaves", () => {
    expect(() => resolveJetStreamOptions({ servers: [] })).toThrow(/at least one NATS URL/);
    expect(() => resolveJetStreamOptions({ servers: "nats://a:1,not a url" })).toThrow(
      /not a NATS URL/,
    );
    expect(() => resolveJetStreamOptions({ servers: "nats://a:1", replicas: 2 })).toThrow(
      /replicas must be 1, 3 or 5/,
    );
    expect(() => resolveJetStreamOptions({ servers: "nats://a:1", prefix: "a.b" })).toThrow(
      /prefix/,
    );
    expect(() => resolveJetStreamOptions({ servers: "nats://a:1", user: "u" })).toThrow(
      /go together/,
    );
    expect(() => resolveJetStreamOptions({ servers: "nats://a:1", colour: 1 } as never)).toThrow(
      /nats.colour is not an option/,
    );
    expect(resolveJetStreamOptions({ servers: "nats://a:1, nats://b:2" })).toEqual({
      servers: ["nats://a:1", "nats://b:2"],
      prefix: "tidemark",
      replicas: 1,
      patienceMs: 10_000,
    });
  });

  it("refuses replicas the NATS deployment cannot place, clearly", async () => {
    const nats = await startNatsServer();
    await expect(
      startServer({
        dir: tempDir("tidemark-js-r3"),
        port: 0,
        logger: memoryLogger(),
        nats: { servers: [nats.url], replicas: 3, patienceMs: 500 },
      }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/STORE_UNAVAILABLE|INVALID_ARGUMENT/) });
    await nats.stop();
  });

  it("warns that one replica is only as durable as the server's sync_interval", async () => {
    const nats = await startNatsServer({ syncAlways: true });
    const logger = memoryLogger();
    const server = await startServer({
      dir: tempDir("tidemark-js-warn"),
      port: 0,
      logger,
      nats: { servers: [nats.url] },
    });
    await server.stop();
    await nats.stop();
    const warnings = logger.lines.filter((line) => line.level === "warn");
    expect(warnings.map((line) => line.message).join("\n")).toContain(
      "fsynced only if nats-server runs with `jetstream { sync_interval: always }`",
    );
  });
});
