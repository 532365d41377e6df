/**
 * The delivery loop of an outbox. Up to `concurrency` keys have an attempt in flight. A
 * transient failure (network, timeout, 5xx, 429) is retried with capped exponential backoff and
 * jitter (or Retry-After); the upstream as a whole is tracked by UpstreamHealth (down: one probe
 * per interval; 429: everyone pauses), so a down upstream is neither hammered nor busy-polled,
 * and failures while it is down do not count against entries. Nothing runs when nothing is due:
 * `add` wakes delivery at once, and one timer waits for the next retry.
 */
import type { Logger } from "../../logger.js";
import {
  type HeldKind,
  type OutboxStore,
  type PendingEntry,
  sequenceKey,
} from "../store/outbox-store.js";
import type { Outcome, Upstream, UpstreamAnswer } from "../upstreams/upstream.js";
import { type Backoff, backoffMs } from "./backoff.js";
import { KeyScheduler } from "./key-scheduler.js";
import { UpstreamHealth } from "./upstream-health.js";

export interface DispatchSettings {
  concurrency: number;
  attemptsMax: number;
  ageMsMax: number | undefined;
}

export class Dispatcher {
  private readonly scheduler = new KeyScheduler();
  /** Attempts in flight, with the signal each was given (aborted when `stop` runs out of time). */
  private readonly inFlight = new Map<PendingEntry, AbortSignal>();
  /** One controller for every attempt started between `start` and `stop` (one per attempt cost
   * a measurable share of the delivery rate). */
  private controller = new AbortController();
  private readonly health: UpstreamHealth;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private idleWaiters: Array<() => void> = [];
  private landedWaiters: Array<() => void> = [];
  running = false;
  readonly counts = { delivered: 0, attempts: 0, failedAttempts: 0 };
  lastError: { message: string; at: number; entry: string } | null = null;

  constructor(
    private readonly name: string,
    private readonly store: OutboxStore,
    private readonly upstream: Upstream,
    private readonly settings: DispatchSettings,
    private readonly backoff: Backoff,
    private readonly clock: () => number,
    private readonly logger: Logger | undefined,
  ) {
    this.health = new UpstreamHealth(backoff, (level, message) =>
      logger?.[level]({ outbox: name, upstream: upstream.description }, message),
    );
    for (const entry of store.pending.values()) this.scheduler.add(this.keyOf(entry), entry);
  }

  get upstreamDown(): boolean {
    return this.health.down;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  isInFlight(entry: PendingEntry): boolean {
    return this.inFlight.has(entry);
  }

  /** A new pending entry (enqueued, or retried): in line behind its key, and delivery wakes. */
  add(entry: PendingEntry): void {
    this.scheduler.add(this.keyOf(entry), entry);
    this.pump();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.controller.signal.aborted) this.controller = new AbortController();
    this.pump();
  }

  /** Stops starting attempts; waits for those in flight, aborting them after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    this.running = false;
    this.clearTimer();
    if (this.inFlight.size === 0) return;
    const settled = this.whenNothingInFlight();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    if ((await Promise.race([settled, timeout])) === "timeout") {
      this.controller.abort();
      await settled;
    }
    clearTimeout(timer);
  }

  /** Resolves when nothing is pending or in flight (at once if so now). */
  idle(): Promise<void> {
    if (this.store.pending.size === 0 && this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  noteError(message: string, entry: string): void {
    this.lastError = { message, at: this.clock(), entry };
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
    while (
      this.inFlight.size < this.settings.concurrency &&
      this.health.mayStart(now, this.inFlight.size)
    ) {
      const next = this.scheduler.take();
      if (next === undefined) break;
      void this.attempt(next.key, next.entry, this.health.down);
    }
    // Nothing may start before the gate (a 429's pause, or the next probe while down); ready
    // keys that could not start for lack of room start when an attempt ends.
    const gate = this.health.gate();
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
      // A local failure (reading the body, storing the sequence): nothing was sent, so it says
      // nothing of the upstream or the entry. Try again later.
      this.noteError(`local: ${String(err)}`, entry.id);
      this.inFlight.delete(entry);
      this.scheduler.later(key, this.clock() + backoffMs(this.backoff, 2));
      this.pump();
      this.checkIdle();
      return;
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
        this.health.answered();
        this.counts.delivered++;
        this.store.delivered(entry, key);
        this.scheduler.settled(key);
        return;
      case "conflict":
        this.health.answered();
        await this.hold(key, entry, "conflict", "the precondition failed", outcome.answer);
        return;
      case "rejected":
        this.health.answered();
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
      this.health.throttled(now, outcome.retryAfterMs);
      this.scheduler.again(key);
      return;
    }
    // Failures while the upstream is down do not count against the entry. No answer, or a
    // 502-504, says the upstream as a whole is in trouble; any other 5xx (or 408, 425) is about
    // this entry: it counts, and does not mark the upstream down. On a sequenced upstream every
    // failure is recorded (an unclear outcome decides whether the sequence may be reused, see
    // OutboxStore.hold), and none gives up on the entry: a dead letter there could only come
    // from a definite refusal.
    const wasDown = this.health.down || probe;
    this.health.failed(now, outcome.status);
    if (this.upstream.sequenced) this.store.failed(entry, outcome.error, now);
    else if (!wasDown) {
      this.store.failed(entry, outcome.error, now);
      const tooOld =
        this.settings.ageMsMax !== undefined &&
        now - entry.meta.enqueuedAt > this.settings.ageMsMax;
      if (entry.attempts >= this.settings.attemptsMax || tooOld) {
        const why = tooOld
          ? `still failing ${Math.round((now - entry.meta.enqueuedAt) / 1000)} s after it was enqueued (ageMsMax)`
          : `failed ${entry.attempts} attempts (attemptsMax)`;
        await this.hold(key, entry, "dead", `${why}; last error: ${outcome.error}`, null);
        return;
      }
    }
    // Retry-After is honoured as a floor: a "0" (or a date in the past) still waits the backoff.
    const wait = Math.min(
      Math.max(outcome.retryAfterMs ?? 0, backoffMs(this.backoff, Math.max(entry.attempts, 1))),
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
    await this.store.hold(entry, key, kind, reason, answer, this.clock());
    this.scheduler.settled(key);
    this.logger?.warn(
      { outbox: this.name, entry: entry.id, kind, reason, status: answer?.status },
      kind === "conflict"
        ? "outbox entry moved to conflicts"
        : "outbox entry moved to dead letters",
    );
  }

  private idempotencyKey(entry: PendingEntry): string {
    const base = `${this.store.instance}:${entry.id}`;
    return entry.meta.gen === 0 ? base : `${base}:${entry.meta.gen}`;
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
}
