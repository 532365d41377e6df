/**
 * An outbox whose low-water mark cannot be stored (a stalled disk for that one write) takes a
 * log snapshot after a discard and a delivery, then the process is SIGKILLed: recovery must
 * start from the stored (older) mark and still know what was resolved above it.
 */
import { Journal, Outbox, type Upstream } from "../../../src/index.js";

const dir = process.argv[2]!;
const journal = await Journal.open(dir);
let firstFails = true;
const upstream: Upstream = {
  description: "fake",
  sequenced: false,
  deliver: async (delivery) => {
    if (Buffer.from(delivery.body).toString() === "E1") {
      return firstFails
        ? { kind: "retry", error: "500", status: 500 }
        : { kind: "delivered", status: 200 };
    }
    return { kind: "conflict", answer: { status: 412, headers: {}, body: "" } };
  },
};
const outbox = await Outbox.open(journal, "o", {
  upstream,
  backoff: { initialMs: 20, maxMs: 40 },
  attemptsMax: 1000,
});
// Internals, reached on purpose: the store's streams and its snapshot.
const store = (outbox as unknown as { store: Record<string, unknown> }).store as {
  entries: { consumer: unknown };
  snapshot(): void;
  snapshotting: Promise<void> | undefined;
};
outbox.start();
await outbox.enqueue({ key: "k1", body: "E1" });
const e2 = await outbox.enqueue({ key: "k2", body: "E2" });
while (outbox.conflicts().length === 0) await new Promise((r) => setTimeout(r, 10));
await outbox.discard(e2);
// From here the mark's store never lands (as on a stalled disk).
store.entries.consumer = () => ({ ack: () => new Promise(() => undefined) });
firstFails = false;
while (outbox.stats().pending > 0) await new Promise((r) => setTimeout(r, 10));
store.snapshot(); // what 4,096 log records would trigger
await store.snapshotting;
process.stdout.write("snapshotted\n");
process.kill(process.pid, "SIGKILL");
