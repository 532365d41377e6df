/**
 * Prometheus metrics (`GET /metrics`, through prom-client): requests, appends, bytes, append
 * latency, live readers, open streams, and the journal's own counters (evictions, expiries,
 * refused appends, free disk). Also the bound on live connections, which they count.
 */

import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { TidemarkError } from "../errors.js";
import type { MirrorStats, OutboxStats } from "../outbox/index.js";
import type { Journal } from "../storage/index.js";

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "tidemark_http_requests_total",
    help: "HTTP requests, by method and status",
    labelNames: ["method", "status"] as const,
    registers: [this.registry],
  });
  readonly appends = new Counter({
    name: "tidemark_appends_total",
    help: "Messages appended",
    registers: [this.registry],
  });
  readonly appendBytes = new Counter({
    name: "tidemark_append_bytes_total",
    help: "Bytes appended",
    registers: [this.registry],
  });
  readonly appendSeconds = new Histogram({
    name: "tidemark_append_duration_seconds",
    help: "Time from an append's validation to its commit (durable under 'always')",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly readBytes = new Counter({
    name: "tidemark_read_bytes_total",
    help: "Message bytes served",
    registers: [this.registry],
  });
  readonly duplicates = new Counter({
    name: "tidemark_producer_duplicates_total",
    help: "Producer retries answered as duplicates (not appended again)",
    registers: [this.registry],
  });
  readonly streamsCreated = new Counter({
    name: "tidemark_streams_created_total",
    help: "Streams created",
    registers: [this.registry],
  });
  readonly live = new Gauge({
    name: "tidemark_live_readers",
    help: "Open long-poll and SSE connections",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  private liveCount = 0;

  constructor(
    journal: Journal,
    streams: () => number,
    liveConnectionsMax: number,
    served?: () => { outboxes: OutboxStats[]; mirrors: MirrorStats[] },
  ) {
    this.liveConnectionsMax = liveConnectionsMax;
    new Gauge({
      name: "tidemark_streams",
      help: "Streams held",
      registers: [this.registry],
      collect() {
        this.set(streams());
      },
    });
    const fromStats = (
      name: string,
      help: string,
      pick: (s: Awaited<ReturnType<Journal["stats"]>>) => number,
    ) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        async collect() {
          this.set(pick(await journal.stats()));
        },
      });
    fromStats("tidemark_journal_bytes", "Bytes on disk across streams", (s) => s.bytes);
    fromStats("tidemark_journal_records", "Records held across streams", (s) => s.records);
    fromStats(
      "tidemark_evicted_records_total",
      "Records released by limits",
      (s) => s.evictions.records,
    );
    fromStats(
      "tidemark_expired_records_total",
      "Records released by age",
      (s) => s.expiries.records,
    );
    fromStats(
      "tidemark_rejected_appends_total",
      "Appends refused for space",
      (s) => s.rejected.STREAM_FULL + s.rejected.JOURNAL_FULL + s.rejected.DISK_FULL,
    );
    fromStats("tidemark_syncs_total", "fdatasync calls that made appends durable", (s) => s.syncs);
    if (served !== undefined) this.outboxGauges(served);
    fromStats(
      "tidemark_disk_free_bytes",
      "Free bytes on the journal's file system",
      (s) => s.diskFreeBytes ?? Number.NaN,
    );
  }

  private readonly liveConnectionsMax: number;

  /** Request-body memory held against the server's budget (http/body-budget.ts). */
  watchBodies(bytesHeld: () => number): void {
    new Gauge({
      name: "tidemark_request_body_bytes",
      help: "Bytes of request bodies (and JSON decoding) held against bodyBytesInFlightMax",
      registers: [this.registry],
      collect() {
        this.set(bytesHeld());
      },
    });
  }

  /** One gauge per figure of `outbox.stats()` and `mirror.stats()`, labelled by name. */
  private outboxGauges(served: () => { outboxes: OutboxStats[]; mirrors: MirrorStats[] }): void {
    const registers = [this.registry];
    const outboxGauge = (name: string, help: string, pick: (s: OutboxStats) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ["outbox"],
        registers,
        collect() {
          this.reset();
          for (const stats of served().outboxes) this.set({ outbox: stats.name }, pick(stats));
        },
      });
    outboxGauge("tidemark_outbox_pending", "Entries waiting for delivery", (s) => s.pending);
    outboxGauge("tidemark_outbox_in_flight", "Attempts in flight", (s) => s.inFlight);
    outboxGauge(
      "tidemark_outbox_oldest_pending_age_seconds",
      "Age of the oldest pending entry",
      (s) => (s.oldestPendingAgeMs ?? 0) / 1000,
    );
    outboxGauge("tidemark_outbox_delivered", "Entries delivered since start", (s) => s.delivered);
    outboxGauge("tidemark_outbox_attempts", "Attempts since start", (s) => s.attempts);
    outboxGauge(
      "tidemark_outbox_failed_attempts",
      "Failed attempts since start",
      (s) => s.failedAttempts,
    );
    outboxGauge("tidemark_outbox_conflicts", "Conflicts held", (s) => s.conflicts);
    outboxGauge("tidemark_outbox_dead_letters", "Dead letters held", (s) => s.deadLetters);
    outboxGauge("tidemark_outbox_upstream_down", "1 while the upstream is down", (s) =>
      s.upstreamDown ? 1 : 0,
    );
    new Gauge({
      name: "tidemark_mirror_behind_records",
      help: "Records of the source the remote has not acknowledged",
      labelNames: ["source", "target"],
      registers,
      collect() {
        this.reset();
        for (const m of served().mirrors)
          this.set({ source: m.source, target: m.target }, m.behind);
      },
    });
    new Gauge({
      name: "tidemark_mirror_halted",
      help: "1 when a mirror stopped on a refusal",
      labelNames: ["source", "target"],
      registers,
      collect() {
        this.reset();
        for (const m of served().mirrors) {
          this.set({ source: m.source, target: m.target }, m.halted === null ? 0 : 1);
        }
      },
    });
  }

  appended(bytes: number, ms: number, messages = 1): void {
    this.appends.inc(messages);
    this.appendBytes.inc(bytes);
    this.appendSeconds.observe(ms / 1000);
  }

  /** Counts a live connection in; 503 past the limit. Returns the function that counts it out. */
  liveOpened(kind: "sse" | "long-poll", shuttingDown: boolean): () => void {
    if (shuttingDown) throw new TidemarkError("SHUTTING_DOWN", "the server is shutting down");
    if (this.liveCount >= this.liveConnectionsMax) {
      throw new TidemarkError(
        "TOO_MANY_LIVE_READERS",
        `this server holds at most ${this.liveConnectionsMax} live connections (liveConnectionsMax)`,
      );
    }
    this.liveCount++;
    this.live.inc({ kind });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.liveCount--;
      this.live.dec({ kind });
    };
  }
}
