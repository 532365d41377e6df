/**
 * This process's timers for subscriptions' wakes: a lease's end (for every wake with a running
 * lease that this process made or heard of, so a lease set by a process that died still ends),
 * and the pause before a failed webhook is tried again, growing with each failure in a row.
 * The timers only prompt a look: what a wake's state is, the book says (subscription-book.ts).
 */
import type { WakeState } from "./subscription-book.js";

const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 60_000;

export interface WakeTimerActions {
  /** The lease of `wakeId` is due. */
  expire(id: string, wakeId: string): Promise<void>;
  /** A failed webhook's pause is over. */
  retry(id: string): Promise<void>;
  clock(): number;
}

interface Timers {
  lease?: NodeJS.Timeout;
  retry?: NodeJS.Timeout;
  failures: number;
}

export class WakeTimers {
  private readonly byId = new Map<string, Timers>();

  constructor(private readonly actions: WakeTimerActions) {}

  /** Looks at the wake when its lease is due (replacing the subscription's earlier lease timer). */
  lease(id: string, wake: WakeState): void {
    const timers = this.timers(id);
    if (timers.lease !== undefined) clearTimeout(timers.lease);
    timers.lease = undefined;
    if (wake.leaseUntil === null) return;
    const delayMs = Math.max(0, wake.leaseUntil - this.actions.clock()) + 1;
    timers.lease = setTimeout(() => {
      timers.lease = undefined;
      void this.actions.expire(id, wake.id);
    }, delayMs);
    timers.lease.unref();
  }

  /** A webhook was delivered: the next failure pauses from the start again. */
  delivered(id: string): void {
    this.timers(id).failures = 0;
  }

  /**
   * A webhook failed: whether it is tried again (after a pause growing with each failure, with
   * jitter), or, past `attemptsMax` in a row, left for the next append to wake.
   */
  failed(id: string, attemptsMax: number): boolean {
    const timers = this.timers(id);
    if (++timers.failures > attemptsMax) {
      timers.failures = 0;
      return false;
    }
    const delayMs =
      Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** timers.failures) * (0.5 + Math.random() / 2);
    if (timers.retry !== undefined) clearTimeout(timers.retry);
    timers.retry = setTimeout(() => {
      timers.retry = undefined;
      void this.actions.retry(id);
    }, delayMs);
    timers.retry.unref();
    return true;
  }

  /** The subscription's wake is over (or the subscription gone): its timers stop. */
  clear(id: string): void {
    const timers = this.byId.get(id);
    if (timers === undefined) return;
    if (timers.lease !== undefined) clearTimeout(timers.lease);
    if (timers.retry !== undefined) clearTimeout(timers.retry);
    if (timers.failures === 0) this.byId.delete(id);
    else {
      timers.lease = undefined;
      timers.retry = undefined;
    }
  }

  clearAll(): void {
    for (const id of [...this.byId.keys()]) {
      this.clear(id);
      this.byId.delete(id);
    }
  }

  private timers(id: string): Timers {
    let timers = this.byId.get(id);
    if (timers === undefined) {
      timers = { failures: 0 };
      this.byId.set(id, timers);
    }
    return timers;
  }
}
