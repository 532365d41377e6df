/**
 * Whether the upstream as a whole can take attempts now. Three failures in a row without an
 * answer (or with 502, 503, 504) mark it down: then no attempt before `downUntil`, and one probe
 * at a time after it, each failed probe pushing the next one out by the backoff; any answer
 * brings it back. A 429 pauses every attempt for its Retry-After. Both are gates in time, so a
 * down or throttling upstream costs one timer, never a busy loop.
 */
import { type Backoff, backoffMs } from "./backoff.js";

const DOWN_AFTER_FAILURES = 3;
const DOWN_STATUSES = new Set([502, 503, 504]);

export class UpstreamHealth {
  private consecutiveFailures = 0;
  private downLevel = 0;
  private downUntil = 0;
  private pausedUntil = 0;
  private throttles = 0;
  down = false;

  constructor(
    private readonly backoff: Backoff,
    private readonly log: (level: "info" | "warn", message: string) => void,
  ) {}

  /** No attempt may start before this time. */
  gate(): number {
    return Math.max(this.pausedUntil, this.down ? this.downUntil : 0);
  }

  /** Whether one more attempt may start now, with `inFlight` running. */
  mayStart(now: number, inFlight: number): boolean {
    if (now < this.gate()) return false;
    return !this.down || inFlight === 0; // while down: one probe at a time
  }

  answered(): void {
    if (this.down) this.log("info", "upstream is back");
    this.consecutiveFailures = 0;
    this.downLevel = 0;
    this.throttles = 0;
    this.down = false;
  }

  /** A failure; marks the upstream down when it says the upstream, not the entry, is in trouble. */
  failed(now: number, status: number | undefined): void {
    if (status !== undefined && !DOWN_STATUSES.has(status)) return; // about this entry
    if (++this.consecutiveFailures < DOWN_AFTER_FAILURES) return;
    if (!this.down) this.log("warn", "upstream is down: probing it with one attempt per interval");
    this.down = true;
    this.downUntil = now + backoffMs(this.backoff, ++this.downLevel);
  }

  /**
   * A 429: everyone waits its Retry-After, but at least the backoff for the 429s in a row (so a
   * "Retry-After: 0" cannot make a busy loop), and at most the backoff's max.
   */
  throttled(now: number, retryAfterMs: number | undefined): void {
    const floor = backoffMs(this.backoff, ++this.throttles);
    this.pausedUntil = now + Math.min(Math.max(retryAfterMs ?? 0, floor), this.backoff.maxMs);
  }
}
