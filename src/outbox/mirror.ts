/**
 * A mirror copies a local stream to a remote Durable Streams stream (or a JetStream subject),
 * exactly once, in order, resuming where it stopped after a restart or a crash. It reads the
 * stream itself (no copy into an outbox): a durable consumer (`mirror:<target>`) remembers how
 * far the remote has acknowledged, and each record's Producer-Seq is derived from its seq
 * (seq - startSeq, where startSeq is fixed when the mirror is first made), so a record re-sent
 * after a crash is a duplicate the server drops, and a record can never be sent under two
 * numbers. On JetStream the record's idempotency key (`<instance>:<seq>`) is its Nats-Msg-Id;
 * since dedupe there only lasts the stream's duplicate_window, the mirror (the subject's only
 * writer) reads the subject's last message before its first send and after every unanswered
 * attempt, and skips what the subject already holds.
 *
 * One append in flight at a time (the server must see the numbers in order). Transient failures
 * are retried with backoff, forever; a refusal (the remote stream closed or deleted, a producer
 * conflict) halts the mirror with the answer in `stats()`, since skipping a record would break
 * the sequence. If retention releases records before they were mirrored, it halts too, saying so.
 */
import { InvalidArgumentError, ReadOnlyError, TidemarkError } from "../errors.js";
import type { Logger } from "../logger.js";
import { checkKnownKeys } from "../options-check.js";
import type { Journal, JournalRecord, Stream } from "../storage/index.js";
import {
  BACKOFF_DEFAULTS,
  type Backoff,
  type BackoffOptions,
  backoffMs,
} from "./delivery/backoff.js";
import type { Outcome, Upstream } from "./upstreams/upstream.js";

export interface MirrorOptions {
  /** The local stream to copy. */
  stream: string;
  /** A sequenced upstream (`new DurableStreamsUpstream(...)`) or a JetStreamUpstream. */
  upstream: Upstream;
  /** The remote stream's path under the upstream (e.g. `/v1/stream/agent/1`). */
  target: string;
  /** Content type of the appends (default the upstream's default, application/octet-stream). */
  contentType?: string;
  backoff?: BackoffOptions;
  logger?: Logger;
}

export interface MirrorStats {
  source: string;
  target: string;
  running: boolean;
  /** The last seq the remote has acknowledged. */
  position: number;
  /** Records of the source not yet acknowledged by the remote. */
  behind: number;
  delivered: number;
  failedAttempts: number;
  /** Set when the mirror stopped on a refusal it cannot get past. */
  halted: string | null;
  lastError: { message: string; at: number } | null;
}

/** How often a running mirror stores its position (see storePositionSoon). */
const ACK_INTERVAL_MS = 20;

/** Mirrors open on each journal, by `<source>\0<target>`, and the last one opening (serialized:
 * opening a mirror rewrites its source's metadata, the start seqs of all its mirrors). */
const openMirrors = new WeakMap<Journal, { keys: Set<string>; opening: Promise<unknown> }>();

interface MirrorMeta {
  startSeq: number;
  instance: string;
}

export class Mirror {
  private running = false;
  private loop: Promise<void> | undefined;
  /** Ends the follow and any wait between attempts. */
  private controller: AbortController | undefined;
  /** Aborts an append in flight (only when `stop` runs out of time). */
  private hard: AbortController | undefined;
  private position: number;
  private delivered = 0;
  private failedAttempts = 0;
  private halted: string | null = null;
  private lastError: MirrorStats["lastError"] = null;
  private acking: Promise<unknown> = Promise.resolve();
  private ackTimer: NodeJS.Timeout | undefined;
  /** The last position handed to the consumer store. */
  private stored: number;
  private readonly backoff: Backoff;
  private readonly consumerName: string;
  private idleWaiters: Array<() => void> = [];
  private forget: () => void = () => undefined;
  /** Read the target's last delivery before the next send (JetStream: at start, after a retry). */
  private verify = true;

  private constructor(
    private readonly source: Stream,
    private readonly meta: MirrorMeta,
    private readonly options: MirrorOptions,
  ) {
    this.backoff = { ...BACKOFF_DEFAULTS, ...options.backoff };
    this.consumerName = consumerNameFor(options.target);
    this.position = source.consumer(this.consumerName).position;
    this.stored = this.position;
  }

  /**
   * Mirrors `options.stream` to the remote stream `options.target`, exactly once, resuming where
   * it stopped. One mirror per source and target per journal; start it with `start()`. The
   * journal stops the mirrors still running when it closes.
   */
  static async open(journal: Journal, options: MirrorOptions): Promise<Mirror> {
    if (typeof options?.stream !== "string") {
      throw new InvalidArgumentError("a mirror needs the name of the local stream it copies");
    }
    checkKnownKeys(
      options,
      ["stream", "upstream", "target", "contentType", "backoff", "logger"],
      "Mirror.open options",
    );
    if (options.upstream?.sequenced !== true && options.upstream?.deduplicates !== true) {
      throw new InvalidArgumentError(
        "a mirror needs an upstream that stores a record once: new DurableStreamsUpstream({ baseUrl }) or new JetStreamUpstream({ servers, stream })",
      );
    }
    if (typeof options.target !== "string" || !options.target.startsWith("/")) {
      throw new InvalidArgumentError("a mirror's target is the remote stream's path, from '/'");
    }
    if (journal.options.readOnly) {
      throw new ReadOnlyError("a mirror needs a journal opened for writing");
    }
    const open = openMirrors.get(journal) ?? {
      keys: new Set<string>(),
      opening: Promise.resolve(),
    };
    openMirrors.set(journal, open);
    const key = `${options.stream}\u0000${options.target}`;
    if (open.keys.has(key)) {
      throw new InvalidArgumentError(`${options.stream} is already mirrored to ${options.target}`);
    }
    open.keys.add(key);
    options.upstream.attach?.({
      backoffMaxMs: { ...BACKOFF_DEFAULTS, ...options.backoff }.maxMs,
    });
    const opening = open.opening.then(() => Mirror.load(journal, options));
    open.opening = opening.catch(() => undefined);
    try {
      const mirror = await opening;
      const unhook = journal.onClose(() => mirror.stop());
      mirror.forget = () => {
        unhook();
        open.keys.delete(key);
      };
      return mirror;
    } catch (err) {
      open.keys.delete(key);
      throw err;
    }
  }

  private static async load(journal: Journal, options: MirrorOptions): Promise<Mirror> {
    const source = await journal.stream(options.stream);
    const mirrors = (source.meta["mirrors"] ?? {}) as Record<string, MirrorMeta>;
    let meta = mirrors[options.target];
    if (meta === undefined) {
      // Fixed once: the first record this mirror will send gets Producer-Seq 0.
      const consumer = source.consumer(consumerNameFor(options.target));
      meta = { startSeq: consumer.position + 1, instance: crypto.randomUUID() };
      await source.setMeta({ ...source.meta, mirrors: { ...mirrors, [options.target]: meta } });
    }
    return new Mirror(source, meta, options);
  }

  /** Stops it for good, closes its upstream, and releases its source and target. */
  async close(): Promise<void> {
    try {
      await this.stop();
      await this.options.upstream.close?.();
    } finally {
      this.forget();
    }
  }

  start(): void {
    if (this.running) return;
    if (this.halted !== null) {
      throw new InvalidArgumentError(`the mirror is halted: ${this.halted}`);
    }
    this.running = true;
    this.controller = new AbortController();
    this.hard = new AbortController();
    this.loop = this.run(this.controller.signal).finally(() => {
      this.running = false;
      this.wakeIdle(true);
    });
  }

  /** Stops after the append in flight (or aborts it after `timeoutMs`); waits for the position. */
  async stop(timeoutMs = 10_000): Promise<void> {
    const loop = this.loop;
    this.running = false;
    if (loop !== undefined) {
      const timer = setTimeout(() => this.hard?.abort(), timeoutMs);
      this.controller?.abort(); // ends the follow at once; an append in flight finishes
      await loop;
      clearTimeout(timer);
    }
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.storePosition();
    await this.acking;
  }

  /**
   * The position is stored at most every ACK_INTERVAL_MS (and when the mirror stops), not per
   * record: a position write per record halved the mirror's rate when the journal and the
   * remote fsync on the same disk (measured). After a crash the records sent since the last
   * write are sent again, which the remote stores once (Producer-Seq; on JetStream the
   * subject's last message, read before the first send).
   */
  private storePositionSoon(): void {
    this.ackTimer ??= setTimeout(() => {
      this.ackTimer = undefined;
      this.storePosition();
    }, ACK_INTERVAL_MS);
  }

  private storePosition(): void {
    const seq = this.position;
    if (seq <= this.stored) return;
    this.stored = seq;
    // The consumer store writes the highest seq asked for while a write is under way; the last
    // promise settles after every earlier one.
    this.acking = this.source
      .consumer(this.consumerName)
      .ack(seq)
      .catch((err: unknown) => this.note(`storing the mirror's position failed: ${err}`));
  }

  /** Resolves when the remote has everything the source held when called (or it halts). */
  idle(): Promise<void> {
    if (this.position >= this.source.info().lastSeq || this.halted !== null) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stats(): MirrorStats {
    return {
      source: this.source.name,
      target: this.options.target,
      running: this.running,
      position: this.position,
      behind: Math.max(0, this.source.info().lastSeq - this.position),
      delivered: this.delivered,
      failedAttempts: this.failedAttempts,
      halted: this.halted,
      lastError: this.lastError,
    };
  }

  private async run(signal: AbortSignal): Promise<void> {
    try {
      for await (const record of this.source.follow({ after: this.position, signal })) {
        const ok = await this.send(record, signal);
        if (!ok) return;
        this.position = record.seq;
        this.delivered++;
        this.storePositionSoon();
        this.wakeIdle(false);
      }
    } catch (err) {
      if (err instanceof TidemarkError && err.code === "CURSOR_EXPIRED") {
        this.halt(
          `records after seq ${this.position} were released by retention before they were mirrored`,
        );
      } else if (!(err instanceof TidemarkError && err.code === "CLOSED")) {
        this.halt(`reading the source failed: ${String(err)}`);
      }
    }
  }

  /** Sends one record until the remote has it; false when the mirror halts or stops. */
  private async send(record: JournalRecord, signal: AbortSignal): Promise<boolean> {
    let failures = 0;
    const contentType = this.options.contentType;
    const json =
      this.options.upstream.sequenced &&
      contentType !== undefined &&
      /^application\/json\b/i.test(contentType);
    // A Durable Streams JSON stream appends each element of an array: one record is sent as
    // one message. (A JetStream message is the record as it is.)
    const body = json
      ? Buffer.concat([Buffer.from("["), record.payload, Buffer.from("]")])
      : record.payload;
    for (;;) {
      let outcome: Outcome;
      let knownAbsent = false;
      try {
        if (this.verify && this.options.upstream.lastDelivered !== undefined) {
          const held = await this.held(record.seq, this.hard!.signal);
          if (held === "held") return true;
          knownAbsent = held === "absent";
          this.verify = false;
        }
        outcome = await this.options.upstream.deliver(
          {
            id: String(record.seq),
            key: this.options.target,
            method: "POST",
            target: this.options.target,
            headers: contentType === undefined ? {} : { "content-type": contentType },
            body,
            precondition: null,
            idempotencyKey: `${this.meta.instance}:${record.seq}`,
            sequence: record.seq - this.meta.startSeq,
            source: this.meta.instance,
            attempt: failures + 1,
            ...(knownAbsent ? { knownAbsent } : {}),
          },
          // Not the follow's signal: an append in flight finishes when the mirror stops.
          this.hard!.signal,
        );
      } catch (err) {
        outcome = { kind: "retry", error: String(err) };
      }
      if (outcome.kind === "delivered") return true;
      if (outcome.kind === "retry") this.verify = true; // it may have landed
      if (outcome.kind !== "retry") {
        const why = outcome.kind === "conflict" ? "a precondition failed" : outcome.reason;
        this.halt(`the remote refused seq ${record.seq}: ${why}`);
        return false;
      }
      failures++;
      this.failedAttempts++;
      this.note(outcome.error);
      if (signal.aborted) return false;
      // Retry-After as a floor: a "0" still waits the backoff.
      const wait = Math.min(
        Math.max(outcome.retryAfterMs ?? 0, backoffMs(this.backoff, failures)),
        this.backoff.maxMs,
      );
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          resolve();
        };
        const timer = setTimeout(done, wait);
        signal.addEventListener("abort", done, { once: true });
      });
      if (signal.aborted) return false;
    }
  }

  /**
   * Whether the target holds the record already, judged by its last message: ours with this
   * seq or a later one: held; ours with an earlier one, or none: absent (records go one at a
   * time, in order); another writer's: unknown (the idempotency key's dedupe decides).
   */
  private async held(seq: number, signal: AbortSignal): Promise<"held" | "absent" | "unknown"> {
    const last = await this.options.upstream.lastDelivered!(this.options.target, signal);
    if (last === null) return "absent";
    const prefix = `${this.meta.instance}:`;
    if (!last.startsWith(prefix)) return "unknown";
    const lastSeq = Number(last.slice(prefix.length));
    if (!Number.isSafeInteger(lastSeq)) return "unknown";
    return lastSeq >= seq ? "held" : "absent";
  }

  private halt(reason: string): void {
    this.halted = reason;
    this.note(reason);
    this.options.logger?.warn(
      { source: this.source.name, target: this.options.target, reason },
      "mirror halted",
    );
  }

  private note(message: string): void {
    this.lastError = { message, at: Date.now() };
  }

  private wakeIdle(all: boolean): void {
    if (!all && this.position < this.source.info().lastSeq) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }
}

function consumerNameFor(target: string): string {
  return `mirror:${target}`;
}
