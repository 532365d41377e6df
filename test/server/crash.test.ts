/**
 * SIGKILL the server while producers append concurrently, restart it, and prove that every
 * acknowledged append is there exactly once and that retrying an unacknowledged one with the same
 * producer tuple never applies it twice.
 */
import { describe, expect, it } from "vitest";
import { startServerProcess } from "../support/server-process.js";
import { rng } from "../support/sim-disk.js";
import { tempDir } from "../support/tmp-dir.js";

const PRODUCERS = 8;
const KILLS = 5;

interface Producer {
  id: string;
  next: number;
  /** A request sent whose answer never came (the server died). */
  unanswered: number | undefined;
}

async function post(base: string, producer: Producer, seq: number): Promise<number> {
  const response = await fetch(`${base}/v1/stream/ledger`, {
    method: "POST",
    headers: {
      "content-type": "text/plain",
      "producer-id": producer.id,
      "producer-epoch": "0",
      "producer-seq": String(seq),
    },
    body: `${producer.id}:${seq}\n`,
  });
  await response.arrayBuffer();
  return response.status;
}

describe("server crash: SIGKILL during concurrent producer appends", () => {
  it(`keeps every acknowledged append exactly once over ${KILLS} kills, and deduplicates retries`, async () => {
    const dir = tempDir("tidemark-server-crash");
    const random = rng(4437);
    const producers: Producer[] = Array.from({ length: PRODUCERS }, (_, i) => ({
      id: `p${i}`,
      next: 0,
      unanswered: undefined,
    }));
    const acked = new Set<string>();
    let duplicatesAnswered = 0;
    for (let kill = 0; kill <= KILLS; kill++) {
      const server = await startServerProcess(dir);
      if (kill === 0) {
        const created = await fetch(`${server.url}/v1/stream/ledger`, {
          method: "PUT",
          headers: { "content-type": "text/plain" },
        });
        expect(created.status).toBe(201);
      }
      // Retry what the last crash left unanswered, with the same tuple: applied once either way.
      for (const producer of producers) {
        if (producer.unanswered === undefined) continue;
        const status = await post(server.url, producer, producer.unanswered);
        expect([200, 204]).toContain(status);
        if (status === 204) duplicatesAnswered++;
        acked.add(`${producer.id}:${producer.unanswered}`);
        producer.next = producer.unanswered + 1;
        producer.unanswered = undefined;
      }
      const stopAt = Date.now() + 150 + Math.floor(random() * 300);
      const appenders = producers.map(async (producer) => {
        while (kill === KILLS ? producer.next < 40 * (KILLS + 1) : true) {
          const seq = producer.next;
          producer.unanswered = seq;
          let status: number;
          try {
            status = await post(server.url, producer, seq);
          } catch {
            return; // the server is gone: this one stays unanswered
          }
          expect(status).toBe(200);
          acked.add(`${producer.id}:${seq}`);
          producer.unanswered = undefined;
          producer.next = seq + 1;
          if (kill < KILLS && Date.now() > stopAt + 2000) return;
        }
      });
      if (kill < KILLS) {
        await new Promise((resolve) => setTimeout(resolve, stopAt - Date.now()));
        server.child.process.kill("SIGKILL");
        await server.child.exited;
        await Promise.all(appenders);
      } else {
        await Promise.all(appenders);
        const text = await (await fetch(`${server.url}/v1/stream/ledger`)).text();
        server.child.process.kill("SIGTERM");
        const { code } = await server.child.exited;
        expect(code).toBe(0);
        const lines = text.split("\n").filter(Boolean);
        expect(new Set(lines).size).toBe(lines.length); // nothing applied twice
        for (const key of acked) expect(lines, `acknowledged ${key} is missing`).toContain(key);
        for (const producer of producers) {
          const mine = lines
            .filter((line) => line.startsWith(`${producer.id}:`))
            .map((line) => Number(line.split(":")[1]));
          expect(mine).toEqual(Array.from({ length: mine.length }, (_, i) => i)); // in order, no gap
        }
        expect(acked.size).toBeGreaterThan(PRODUCERS * 40);
      }
    }
    console.log(
      `server crash test: ${acked.size} acknowledged appends, ${duplicatesAnswered} retries answered as duplicates`,
    );
  }, 180_000);
});
