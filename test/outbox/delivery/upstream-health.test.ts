/**
 * Whether the upstream as a whole may take attempts. Time comes in as an argument, so the clock
 * is the test's; the backoff's jitter comes from Math.random, pinned here so every wait is known.
 */
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Backoff } from "../../../src/outbox/delivery/backoff.js";
import { UpstreamHealth } from "../../../src/outbox/delivery/upstream-health.js";

const backoff: Backoff = { initialMs: 100, maxMs: 1000 };

function tracked() {
  const logs: Array<{ level: "info" | "warn"; message: string }> = [];
  const health = new UpstreamHealth(backoff, (level, message) => logs.push({ level, message }));
  return { health, logs };
}

/** Three failures without an answer at `now`: the upstream is down from then. */
function markDown(health: UpstreamHealth, now: number): void {
  for (let i = 0; i < 3; i++) health.failed(now, undefined);
}

// With no jitter each wait is half the capped exponential: 50, 100, 200, 400, then 500.
beforeEach(() => {
  vi.spyOn(Math, "random").mockReturnValue(0);
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe("UpstreamHealth: down", () => {
  it("stays up after two failures without an answer", () => {
    const { health, logs } = tracked();
    health.failed(0, undefined);
    health.failed(1, undefined);
    expect(health.down).toBe(false);
    expect(health.gate()).toBe(0);
    expect(health.mayStart(2, 10)).toBe(true);
    expect(logs).toEqual([]);
  });

  it("goes down at the third, and then takes nothing before the backoff has passed", () => {
    const { health, logs } = tracked();
    health.failed(0, undefined);
    health.failed(5, undefined);
    health.failed(10, undefined);
    expect(health.down).toBe(true);
    expect(health.gate()).toBe(60);
    expect(health.mayStart(10, 0)).toBe(false);
    expect(health.mayStart(59, 0)).toBe(false);
    expect(health.mayStart(60, 0)).toBe(true);
    expect(logs).toEqual([{ level: "warn", message: expect.stringContaining("down") }]);
  });

  it("lets one probe at a time through once the backoff has passed", () => {
    const { health } = tracked();
    markDown(health, 0);
    expect(health.mayStart(1000, 0)).toBe(true);
    expect(health.mayStart(1000, 1)).toBe(false);
    expect(health.mayStart(1000, 5)).toBe(false);
  });

  it("counts 502, 503 and 504 like failures without an answer", () => {
    for (const status of [502, 503, 504]) {
      const { health } = tracked();
      health.failed(0, status);
      health.failed(0, status);
      expect(health.down, String(status)).toBe(false);
      health.failed(0, status);
      expect(health.down, String(status)).toBe(true);
    }
    const { health } = tracked();
    health.failed(0, 502);
    health.failed(0, undefined);
    health.failed(0, 504);
    expect(health.down).toBe(true);
  });

  it("never goes down for statuses about the entry rather than the upstream", () => {
    const { health } = tracked();
    for (const status of [400, 404, 408, 409, 425, 429, 500, 501, 505])
      for (let i = 0; i < 5; i++) health.failed(0, status);
    expect(health.down).toBe(false);
    expect(health.mayStart(0, 100)).toBe(true);
  });

  it("pushes each probe after a failed one out by a growing backoff, up to its max", () => {
    const { health, logs } = tracked();
    let now = 0;
    markDown(health, now);
    const waits = [health.gate() - now];
    for (let probe = 0; probe < 6; probe++) {
      now = health.gate();
      expect(health.mayStart(now, 0)).toBe(true);
      health.failed(now, undefined);
      waits.push(health.gate() - now);
    }
    expect(waits).toEqual([50, 100, 200, 400, 500, 500, 500]);
    expect(health.down).toBe(true);
    expect(logs.filter((log) => log.level === "warn")).toHaveLength(1);
  });

  it("waits between half and all of the capped backoff, whatever the jitter", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 30 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 0, max: 1e12 }),
        (failures, jitter, now) => {
          vi.spyOn(Math, "random").mockReturnValue(jitter);
          const { health } = tracked();
          for (let i = 0; i < failures; i++) health.failed(now, undefined);
          const level = failures - 2; // the third failure is level 1
          const capped = Math.min(backoff.maxMs, backoff.initialMs * 2 ** (level - 1));
          const wait = health.gate() - now;
          expect(wait).toBeGreaterThanOrEqual(capped / 2);
          expect(wait).toBeLessThanOrEqual(capped);
        },
      ),
    );
  });
});

describe("UpstreamHealth: back up", () => {
  it("comes back at once with an answer, and takes attempts in parallel again", () => {
    const { health, logs } = tracked();
    markDown(health, 0);
    health.answered();
    expect(health.down).toBe(false);
    expect(health.gate()).toBe(0);
    expect(health.mayStart(1, 10)).toBe(true);
    expect(logs.map((log) => log.level)).toEqual(["warn", "info"]);
  });

  it("starts the count over after an answer, and the backoff from its first step", () => {
    const { health } = tracked();
    markDown(health, 0);
    for (let i = 0; i < 3; i++) health.failed(health.gate(), undefined); // three failed probes
    health.answered();
    health.failed(5000, undefined);
    health.failed(5000, undefined);
    expect(health.down).toBe(false);
    health.failed(5000, undefined);
    expect(health.down).toBe(true);
    expect(health.gate()).toBe(5050);
  });

  it("needs three failures in a row: an answer between them starts over", () => {
    const { health } = tracked();
    health.failed(0, undefined);
    health.failed(0, undefined);
    health.answered();
    health.failed(0, undefined);
    health.failed(0, undefined);
    expect(health.down).toBe(false);
  });

  it("logs nothing for an answer while up", () => {
    const { health, logs } = tracked();
    health.answered();
    health.failed(0, undefined);
    health.answered();
    expect(logs).toEqual([]);
  });
});

describe("UpstreamHealth: throttled (429)", () => {
  it("pauses every attempt for the Retry-After, without marking the upstream down", () => {
    const { health } = tracked();
    health.throttled(1000, 300);
    expect(health.down).toBe(false);
    expect(health.gate()).toBe(1300);
    expect(health.mayStart(1299, 0)).toBe(false);
    expect(health.mayStart(1300, 0)).toBe(true);
    expect(health.mayStart(1300, 7)).toBe(true);
  });

  it("waits at least the backoff for the 429s in a row, so Retry-After: 0 is no busy loop", () => {
    const { health } = tracked();
    health.throttled(0, 0);
    expect(health.gate()).toBe(50);
    health.throttled(100, undefined);
    expect(health.gate()).toBe(200);
    health.throttled(200, 0);
    expect(health.gate()).toBe(400);
    // A Retry-After above the floor is taken as given.
    health.throttled(400, 450);
    expect(health.gate()).toBe(850);
  });

  it("never pauses longer than the backoff's max", () => {
    const { health } = tracked();
    health.throttled(0, 3_600_000);
    expect(health.gate()).toBe(backoff.maxMs);
    // The floor stops growing at the max too (half of it, without jitter).
    for (let i = 0; i < 20; i++) health.throttled(0, 0);
    expect(health.gate()).toBe(backoff.maxMs / 2);
    vi.spyOn(Math, "random").mockReturnValue(0.999_999);
    health.throttled(0, 0);
    expect(health.gate()).toBe(backoff.maxMs);
  });

  it("starts the throttle floor over after an answer", () => {
    const { health } = tracked();
    for (let i = 0; i < 4; i++) health.throttled(0, 0);
    expect(health.gate()).toBe(400);
    health.answered();
    health.throttled(1000, 0);
    expect(health.gate()).toBe(1050);
  });

  it("holds attempts until the later of the pause and the next probe", () => {
    const longPause = tracked().health;
    markDown(longPause, 0); // next probe at 50
    longPause.throttled(0, 800);
    expect(longPause.gate()).toBe(800);
    expect(longPause.mayStart(100, 0)).toBe(false);
    expect(longPause.mayStart(800, 0)).toBe(true);

    const shortPause = tracked().health;
    markDown(shortPause, 1000); // next probe at 1050
    shortPause.throttled(1000, 10); // the floor: 50
    expect(shortPause.gate()).toBe(1050);
  });
});
