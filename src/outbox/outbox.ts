/**
 * The outbox: hands entries to an upstream exactly once where the upstream allows it, in order
 * per key, and forgets an entry only once the upstream has it, or once the user has dealt with
 * it as a conflict or dead letter. State lives in journal streams (outbox-store.ts).
 *
 * Delivery: up to `concurrency` keys have an attempt in flight. A transient failure (network,
 * timeout, 5xx, 429) is retried with capped exponential backoff and jitter (or Retry-After).
 * Three failures in a row without an answer (or with 502, 503, 504) mark the upstream down: then
 * a single probe goes out per backoff interval until one succeeds, so a down upstream is neither
 * hammered nor busy-polled, and failures while it is down do not count against entries. A 429
 * pauses every key for its Retry-After, without counting. Nothing runs when nothing is due: enqueue
 * wakes delivery at once, and one timer waits for the next retry.
 */
import { InvalidArgumentError, NotFoundError, OutboxFullError } from "../errors.js";
import type { Journal } from "../storage/journal.js";
import type { Logger } from "../storage/journal-maintenance.js";
import { BACKOFF_DEFAULTS, type Backoff, type BackoffOptions, backoffMs } from "./backoff.js";
import {
  checkEntry,
  checkHeaders,
  checkPrecondition,
  type EntryMeta,
  type OutboxEntryInput,
  type Precondition,
} from "./entry.js";
import { KeyScheduler } from "./key-scheduler.js";
import {
  type HeldEntry,
  type HeldKind,
  OutboxStore,
  type PendingEntry,
  sequenceKey,
} from "./outbox-store.js";
import type { Outcome, Upstream, UpstreamAnswer } from "./upstream.js";

export interface OutboxOptions {
  upstream: Upstream;
  /** Keys with an attempt in flight at once (default 8). */
  concurrency?: number;
  /** Counted failed attempts after which an entry becomes a dead letter (default 10). */
  attemptsMax?: number;
  /** An entry still failing this long after it was enqueued becomes a dead letter (default: never). */
  ageMsMax?: number;
  backoff?: BackoffOptions;
  /** Pending entries at most; past it `enqueue` fails with OUTBOX_FULL (default 1,000,000). */
  entriesMax?: number;
  /** Largest body accepted by `enqueue` (default 16 MiB, and at most the journal's record size). */
  bodyBytesMax?: number;
  /** How long `stop()` waits for attempts in flight before aborting them (default 10 s). */
  stopTimeoutMs?: number;
  logger?: Logger;
  /** @internal */
  clock?: () => number;
}

export interface OutboxStats {
  name: string;
  upstream: string;
  running: boolean;
  pending: number;
  inFlight: number;
  /** Age of the oldest pending entry (ms since it was first enqueued), or null. */
  oldestPendingAgeMs: number | null;
  /** Since the outbox was opened. */
  delivered: number;
  attempts: number;
  failedAttempts: number;
  conflicts: number;
  deadLetters: number;
  /** The upstream failed several times in a row: one probe per interval until it answers. */
  upstreamDown: boolean;
  lastError: { message: string; at: number; entry: string } | null;
}

/** A pending entry, or a conflict or dead letter, as the API and the CLI show it. */
export interface OutboxEntryInfo {
  id: string;
  state: "pending" | "in-flight" | HeldKind;
  key: string | null;
  method: string;
  target: string;
  headers: Record<string, string>;
  precondition: EntryMeta["precondition"];
  enqueuedAt: number;
  attempts: number;
  bodyBytes: number;
  lastError: string | null;
  /** For conflicts and dead letters. */
  reason?: string;
  answer?: UpstreamAnswer | null;
  heldAt?: number;
}

export interface RetryOptions {
  /** A new precondition (e.g. the ETag the conflict's answer carried). */
  precondition?: Precondition;
  /** Headers to add or replace. */
  headers?: Record<string, string>;
}

/** Consecutive failures without an answer (or 502-504) that mark the upstream down. */
const DOWN_AFTER_FAILURES = 3;
const UPSTREAM_DOWN_STATUSES = new Set([502, 503, 504]);
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class Outbox {
  private readonly scheduler = new KeyScheduler();
  /** Attempts in flight, with the signal each was given (aborted when `stop` runs out of time). */
  private readonly inFlight = new Map<PendingEntry, AbortSignal>();
  /** One controller for every attempt started between `start` and `stop` (one per attempt cost
   * a measurable share of the delivery rate). */
  private controller = new AbortController();
  private readonly clock: () => number;
  private readonly backoff: Backoff;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private consecutiveFailures = 0;
  private downLevel = 0;
  /** While the upstream is down: no attempt before this time, then one probe at a time. */
  private downUntil = 0;
  private down = false;
  /** A 429's Retry-After pauses every key. */
  private pausedUntil = 0;
  private counts = { delivered: 0, attempts: 0, failedAttempts: 0 };
  private lastError: OutboxStats["lastError"] = null;
  private idleWaiters: Array<() => void> = [];
  private landedWaiters: Array<() => void> = [];
  private closed = false;

  private constructor(
    readonly name: string,
    private readonly store: OutboxStore,
    private readonly upstream: Upstream,
    private readonly options: Required<
      Pick<
        OutboxOptions,
        "concurrency" | "attemptsMax" | "entriesMax" | "bodyBytesMax" | "stopTimeoutMs"
      >
    > & { ageMsMax: number | undefined },
    private readonly logger: Logger | undefined,
    clock: (() => number) | undefined,
    backoff: BackoffOptions | undefined,
  ) {
    this.clock = clock ?? Date.now;
    this.backoff = { ...BACKOFF_DEFAULTS, ...backoff };
    store.onWriteError = (err) => this.noteError(`storing outbox state failed: ${String(err)}`, "");
    for (const entry of store.pending.values()) this.scheduler.add(this.keyOf(entry), entry);
  }

  /**
   * @internal Use `journal.outbox(name, options)`. `readOnly` opens an existing outbox for
   * inspection (the CLI, on a journal another process writes).
   */
  static async open(
    journal: Journal,
    name: string,
    options: OutboxOptions,
    readOnly = false,
  ): Promise<Outbox> {
    checkName(name);
    if (options === undefined || typeof options.upstream?.deliver !== "function") {
      throw new InvalidArgumentError("an outbox needs an upstream (e.g. new HttpUpstream(...))");
    }
    const settings = {
      concurrency: positive(options.concurrency, 8, "concurrency"),
      attemptsMax: positive(options.attemptsMax, 10, "attemptsMax"),
      entriesMax: positive(options.entriesMax, 1_000_000, "entriesMax"),
      bodyBytesMax: positive(options.bodyBytesMax, 16 * 1024 * 1024, "bodyBytesMax"),
      stopTimeoutMs: positive(options.stopTimeoutMs, 10_000, "stopTimeoutMs"),
      ageMsMax:
        options.ageMsMax === undefined ? undefined : positive(options.ageMsMax, 0, "ageMsMax"),
    };
    const backoff = { ...BACKOFF_DEFAULTS, ...options.backoff };
    positive(backoff.initialMs, 0, "backoff.initialMs");
    positive(backoff.maxMs, 0, "backoff.maxMs");
    const store = await OutboxStore.open(journal, name, readOnly);
    return new Outbox(
      name,
      store,
      options.upstream,
      settings,
      options.logger,
      options.clock,
      options.backoff,
    );
  }

  /** Stores an entry; resolves with its id once it is durable. Delivery starts at once. */
  async enqueue(input: OutboxEntryInput): Promise<string> {
    this.checkOpen();
    const { meta, body } = checkEntry(input, this.options.bodyBytesMax, this.clock());
    if (this.store.pending.size >= this.options.entriesMax) {
      throw new OutboxFullError(
        `outbox ${this.name} holds ${this.options.entriesMax} pending entries (entriesMax)`,
        { outbox: this.name },
      );
    }
    const entry = await this.store.append(meta, body);
    this.scheduler.add(this.keyOf(entry), entry);
    this.pump();
    return entry.id;
  }

  /** Starts delivering (pending entries first, in order per key). */
  start(): void {
    this.checkOpen();
    if (this.running) return;
    this.running = true;
    if (this.controller.signal.aborted) this.controller = new AbortController();
    this.pump();
  }

  /**
   * Stops starting attempts, waits for those in flight (up to `timeoutMs`, default the
   * `stopTimeoutMs` option), aborts what is left (those entries stay pending), and waits for
   * the outbox's state to be written.
   */
  async stop(timeoutMs = this.options.stopTimeoutMs): Promise<void> {
    this.running = false;
    this.clearTimer();
    if (this.inFlight.size > 0) {
      const settled = this.whenNothingInFlight();
      const timer = new Promise<"timeout">((resolve) => {
        setTimeout(() => resolve("timeout"), timeoutMs).unref();
      });
      if ((await Promise.race([settled, timer])) === "timeout") {
        this.controller.abort();
        await settled;
      }
    }
    await this.store.flush();
  }

  /** Stops and releases the upstream. The journal closes its outboxes itself. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.stop();
    this.closed = true;
    await this.upstream.close?.();
  }

  /** Resolves when nothing is pending or in flight (at once if so now). */
  idle(): Promise<void> {
    if (this.store.pending.size === 0 && this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stats(): OutboxStats {
    let conflicts = 0;
    let deadLetters = 0;
    for (const held of this.store.held.values()) {
      if (held.kind === "conflict") conflicts++;
      else deadLetters++;
    }
    const oldest = this.store.pending.values().next();
    return {
      name: this.name,
      upstream: this.upstream.description,
      running: this.running,
      pending: this.store.pending.size,
      inFlight: this.inFlight.size,
      oldestPendingAgeMs: oldest.done ? null : this.clock() - oldest.value.meta.enqueuedAt,
      delivered: this.counts.delivered,
      attempts: this.counts.attempts,
      failedAttempts: this.counts.failedAttempts,
      conflicts,
      deadLetters,
      upstreamDown: this.down,
      lastError: this.lastError,
    };
  }

  /** Pending entries, oldest first (at most `limit`). */
  pending(limit = 100): OutboxEntryInfo[] {
    const out: OutboxEntryInfo[] = [];
    for (const entry of this.store.pending.values()) {
      if (out.length >= limit) break;
      out.push(pendingInfo(entry, this.inFlight.has(entry)));
    }
    return out;
  }

  conflicts(): OutboxEntryInfo[] {
    return [...this.store.held.values()].filter((h) => h.kind === "conflict").map(heldInfo);
  }

  deadLetters(): OutboxEntryInfo[] {
    return [...this.store.held.values()].filter((h) => h.kind === "dead").map(heldInfo);
  }

  /** A pending entry, conflict or dead letter by id; undefined if it is not held any more. */
  get(id: string): OutboxEntryInfo | undefined {
    const held = this.store.held.get(id);
    if (held !== undefined) return heldInfo(held);
    for (const entry of this.store.pending.values()) {
      if (entry.id === id) return pendingInfo(entry, this.inFlight.has(entry));
    }
    return undefined;
  }

  /** The body of a pending entry, conflict or dead letter. */
  async body(id: string): Promise<Uint8Array> {
    const held = this.store.held.get(id);
    if (held !== undefined) return this.store.heldBody(held);
    for (const entry of this.store.pending.values()) {
      if (entry.id === id) return this.store.body(entry);
    }
    throw new NotFoundError(`outbox ${this.name} holds no entry ${id}`, { outbox: this.name });
  }

  /**
   * Puts a conflict or dead letter back in line (at the end of its key's line), optionally
   * with a new precondition or headers. It keeps its id; its idempotency key changes, since
   * the upstream answered the previous one.
   */
  async retry(id: string, options: RetryOptions = {}): Promise<string> {
    this.checkOpen();
    const held = this.heldOrThrow(id);
    const headers = { ...held.meta.headers, ...checkHeaders(options.headers) };
    const precondition =
      options.precondition === undefined
        ? held.meta.precondition
        : checkPrecondition(options.precondition);
    const meta: EntryMeta = {
      ...held.meta,
      id: held.id,
      gen: held.meta.gen + 1,
      headers,
      precondition,
      retryOf: held.heldSeq,
    };
    const body = await this.store.heldBody(held);
    const entry = await this.store.append(meta, body);
    await this.store.resolveHeld(held.heldSeq, "retry");
    this.scheduler.add(this.keyOf(entry), entry);
    this.pump();
    return entry.id;
  }

  /** Drops a conflict or dead letter for good (the user's decision, recorded). */
  async discard(id: string): Promise<void> {
    this.checkOpen();
    const held = this.heldOrThrow(id);
    await this.store.resolveHeld(held.heldSeq, "discard");
  }

  private heldOrThrow(id: string) {
    const held = this.store.held.get(id);
    if (held === undefined) {
      throw new NotFoundError(`outbox ${this.name} has no conflict or dead letter ${id}`, {
        outbox: this.name,
      });
    }
    return held;
  }

  private keyOf(entry: PendingEntry): string {
    if (this.upstream.sequenced) return sequenceKey(entry);
    return entry.meta.key ?? `\u0000${entry.id}`;
  }

  /** Starts every attempt that may start now, and sets the timer for the next one. */
  private pump(): void {
    if (!this.running) return;
    const now = this.clock();
    const nextDue = this.scheduler.due(now);
    while (this.inFlight.size < this.options.concurrency) {
      if (now < this.pausedUntil) break;
      if (this.down && (now < this.downUntil || this.inFlight.size > 0)) break;
      const next = this.scheduler.take();
      if (next === undefined) break;
      void this.attempt(next.key, next.entry, this.down);
      if (this.down) break; // one probe at a time
    }
    // Nothing may start before the gate (a 429's pause, or the next probe while down); ready
    // keys that could not start for lack of room start when an attempt ends.
    const gate = Math.max(this.pausedUntil, this.down ? this.downUntil : 0);
    let wakeAt = Number.POSITIVE_INFINITY;
    if (this.scheduler.hasReady && gate > now) wakeAt = gate;
    if (nextDue !== undefined) wakeAt = Math.min(wakeAt, Math.max(nextDue, gate));
    this.setTimer(wakeAt);
  }

  private async attempt(key: string, entry: PendingEntry, probe: boolean): Promise<void> {
    const signal = this.controller.signal;
    this.inFlight.set(entry, signal);
    this.counts.attempts++;
    let outcome: Outcome;
    try {
      const sequence = this.upstream.sequenced ? await this.store.assignSequence(entry, key) : 0;
      const body = await this.store.body(entry);
      outcome = await this.upstream.deliver(
        {
          id: entry.id,
          key: entry.meta.key,
          method: entry.meta.method,
          target: entry.meta.target,
          headers: entry.meta.headers,
          body,
          precondition: entry.meta.precondition,
          idempotencyKey: this.idempotencyKey(entry),
          sequence,
          source: this.store.instance,
          attempt: entry.attempts + 1,
        },
        signal,
      );
    } catch (err) {
      // A local failure (reading the body, storing the sequence): try again later.
      outcome = { kind: "retry", error: `local: ${String(err)}` };
    }
    try {
      await this.settle(key, entry, outcome, probe, signal.aborted);
    } catch (err) {
      // Storing the outcome failed (e.g. a full disk): the entry stays pending and is tried
      // again; the upstream's duplicate detection covers a repeat.
      this.noteError(`storing the outcome of ${entry.id} failed: ${String(err)}`, entry.id);
      this.scheduler.later(key, this.clock() + backoffMs(this.backoff, 1));
    } finally {
      this.inFlight.delete(entry);
      this.pump();
      this.checkIdle();
    }
  }

  private async settle(
    key: string,
    entry: PendingEntry,
    outcome: Outcome,
    probe: boolean,
    aborted: boolean,
  ): Promise<void> {
    const now = this.clock();
    switch (outcome.kind) {
      case "delivered":
        this.upstreamAnswered();
        this.counts.delivered++;
        this.store.delivered(entry, key);
        this.scheduler.settled(key);
        return;
      case "conflict":
        this.upstreamAnswered();
        await this.hold(key, entry, "conflict", "the precondition failed", outcome.answer);
        return;
      case "rejected":
        this.upstreamAnswered();
        await this.hold(key, entry, "dead", outcome.reason, outcome.answer ?? null);
        return;
      case "retry":
        break;
    }
    if (aborted) {
      this.scheduler.again(key); // stopped mid-attempt: not the entry's fault
      return;
    }
    this.counts.failedAttempts++;
    this.noteError(outcome.error, entry.id);
    if (outcome.throttled === true) {
      // Throttling is about the client, not the entry: everyone waits, nothing is counted.
      this.pausedUntil =
        now + Math.min(outcome.retryAfterMs ?? backoffMs(this.backoff, 1), this.backoff.maxMs);
      this.scheduler.again(key);
      return;
    }
    const wasDown = this.down || probe;
    // No answer, or a gateway or availability error: the upstream as a whole is in trouble.
    // Any other 5xx (or 408, 425) is about this entry: it counts, but does not mark it down.
    if (outcome.status === undefined || UPSTREAM_DOWN_STATUSES.has(outcome.status)) {
      this.upstreamFailed(now);
    }
    if (!wasDown) {
      this.store.failed(entry, outcome.error, now);
      const tooOld =
        this.options.ageMsMax !== undefined && now - entry.meta.enqueuedAt > this.options.ageMsMax;
      if (entry.attempts >= this.options.attemptsMax || tooOld) {
        const why = tooOld
          ? `still failing ${Math.round((now - entry.meta.enqueuedAt) / 1000)} s after it was enqueued (ageMsMax)`
          : `failed ${entry.attempts} attempts (attemptsMax)`;
        await this.hold(key, entry, "dead", `${why}; last error: ${outcome.error}`, null);
        return;
      }
    }
    const wait = Math.min(
      outcome.retryAfterMs ?? backoffMs(this.backoff, Math.max(entry.attempts, 1)),
      this.backoff.maxMs,
    );
    this.scheduler.later(key, now + wait);
  }

  private async hold(
    key: string,
    entry: PendingEntry,
    kind: HeldKind,
    reason: string,
    answer: UpstreamAnswer | null,
  ): Promise<void> {
    await this.store.hold(entry, kind, reason, answer, this.clock());
    this.scheduler.settled(key);
    this.logger?.warn(
      { outbox: this.name, entry: entry.id, kind, reason, status: answer?.status },
      kind === "conflict"
        ? "outbox entry moved to conflicts"
        : "outbox entry moved to dead letters",
    );
  }

  private upstreamAnswered(): void {
    if (this.down) this.logger?.info({ outbox: this.name }, "upstream is back");
    this.consecutiveFailures = 0;
    this.downLevel = 0;
    this.down = false;
  }

  private upstreamFailed(now: number): void {
    this.consecutiveFailures++;
    if (this.consecutiveFailures < DOWN_AFTER_FAILURES) return;
    if (!this.down) {
      this.logger?.warn(
        { outbox: this.name, upstream: this.upstream.description, error: this.lastError?.message },
        "upstream is down: probing it with one attempt per interval",
      );
    }
    this.down = true;
    this.downUntil = now + backoffMs(this.backoff, ++this.downLevel);
  }

  private idempotencyKey(entry: PendingEntry): string {
    const base = `${this.store.instance}:${entry.id}`;
    return entry.meta.gen === 0 ? base : `${base}:${entry.meta.gen}`;
  }

  private noteError(message: string, entry: string): void {
    this.lastError = { message, at: this.clock(), entry };
  }

  private setTimer(at: number): void {
    if (!Number.isFinite(at)) {
      this.clearTimer();
      return;
    }
    if (this.timer !== undefined && this.timerAt <= at) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.pump();
      },
      Math.max(0, at - this.clock()),
    );
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  private whenNothingInFlight(): Promise<void> {
    if (this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.landedWaiters.push(resolve));
  }

  private checkIdle(): void {
    if (this.inFlight.size === 0) {
      const landed = this.landedWaiters;
      this.landedWaiters = [];
      for (const wake of landed) wake();
    }
    if (this.store.pending.size > 0 || this.inFlight.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }

  private checkOpen(): void {
    if (this.closed) throw new InvalidArgumentError(`outbox ${this.name} is closed`);
  }
}

function pendingInfo(entry: PendingEntry, inFlight: boolean): OutboxEntryInfo {
  return {
    id: entry.id,
    state: inFlight ? "in-flight" : "pending",
    key: entry.meta.key,
    method: entry.meta.method,
    target: entry.meta.target,
    headers: entry.meta.headers,
    precondition: entry.meta.precondition,
    enqueuedAt: entry.meta.enqueuedAt,
    attempts: entry.attempts,
    bodyBytes: entry.bodyBytes,
    lastError: entry.lastError,
  };
}

function heldInfo(held: HeldEntry): OutboxEntryInfo {
  return {
    id: held.id,
    state: held.kind,
    key: held.meta.key,
    method: held.meta.method,
    target: held.meta.target,
    headers: held.meta.headers,
    precondition: held.meta.precondition,
    enqueuedAt: held.meta.enqueuedAt,
    attempts: held.attempts,
    bodyBytes: held.bodyBytes,
    lastError: null,
    reason: held.reason,
    answer: held.answer,
    heldAt: held.heldAt,
  };
}

export function checkName(name: string): void {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new InvalidArgumentError(
      `an outbox name is 1–128 letters, digits, '.', '_' or '-', starting with a letter or digit; got ${JSON.stringify(name)}`,
    );
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/** An upstream for an outbox opened only to inspect or manage it (never started). */
export const NO_UPSTREAM: Upstream = {
  description: "none (opened to inspect or manage)",
  sequenced: false,
  deliver: async () => ({ kind: "retry", error: "this outbox was opened without an upstream" }),
};
