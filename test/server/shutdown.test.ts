/**
 * SIGTERM: the server stops accepting, answers live readers, finishes the appends it accepted,
 * syncs and releases the journal, and exits 0.
 */
import { describe, expect, it } from "vitest";
import { Journal } from "../../src/index.js";
import { formatOffset } from "../../src/server/streams/offsets.js";
import { startServerProcess } from "../support/server-process.js";
import { tempDir } from "../support/tmp-dir.js";

describe("graceful shutdown", () => {
  it("answers live readers, finishes accepted appends, releases the journal and exits 0", async () => {
    const dir = tempDir("tidemark-shutdown");
    const server = await startServerProcess(dir, ["--long-poll-timeout-ms", "30000"]);
    const stream = `${server.url}/v1/stream/s`;
    expect(
      (await fetch(stream, { method: "PUT", headers: { "content-type": "text/plain" } })).status,
    ).toBe(201);
    const longPoll = fetch(`${stream}?offset=${formatOffset(0)}&live=long-poll`);
    const sse = fetch(`${stream}?offset=-1&live=sse`).then((response) => response.text());
    await new Promise((resolve) => setTimeout(resolve, 200));
    const appends = Array.from({ length: 50 }, (_, i) =>
      fetch(stream, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: `${i},`,
      }).then(
        (response) => response.status,
        () => "refused",
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    const started = Date.now();
    server.child.process.kill("SIGTERM");
    const statuses = await Promise.all(appends);
    const poll = await longPoll;
    expect([200, 204]).toContain(poll.status);
    await sse; // ends instead of hanging
    const { code } = await server.child.exited;
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(server.child.stderr()).toMatch(/SIGTERM: finishing requests/);

    const accepted = statuses.filter((status) => status === 204).length;
    expect(
      statuses.every((status) => status === 204 || status === 503 || status === "refused"),
    ).toBe(true);
    const journal = await Journal.open(dir); // the lock was released
    const records: string[] = [];
    for await (const record of (await journal.stream("s")).read())
      records.push(Buffer.from(record.payload).toString());
    expect(records.length).toBe(accepted);
    await journal.close();
  });
});
