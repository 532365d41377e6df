/**
 * How the dashboard writes figures (dashboard/src/format.ts): binary units for bytes, the two
 * largest units for spans of time, one for "how long ago", and a dash for what is unknown.
 */
import { describe, expect, it } from "vitest";
import {
  formatAgo,
  formatBytes,
  formatCount,
  formatDuration,
  formatLimits,
  formatPercent,
  formatRate,
} from "../../dashboard/src/format.js";

describe("dashboard formats", () => {
  it("writes bytes in binary units with three significant digits", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.50 KiB");
    expect(formatBytes(64 * 1024 * 1024)).toBe("64.0 MiB");
    expect(formatBytes(256 * 1024 ** 3)).toBe("256 GiB");
    expect(formatBytes(null)).toBe("—");
    expect(formatBytes(Number.POSITIVE_INFINITY)).toBe("—");
  });

  it("writes counts, rates and fractions", () => {
    expect(formatCount(1234567)).toBe("1,234,567");
    expect(formatRate(0)).toBe("0");
    expect(formatRate(4.5)).toBe("4.50");
    expect(formatRate(12_345)).toBe("12.3k");
    expect(formatRate(2_500_000)).toBe("2.50M");
    expect(formatPercent(0.156)).toBe("16%");
    expect(formatPercent(0.0123)).toBe("1.2%");
    expect(formatPercent(0.000001)).toBe("< 0.1%");
    expect(formatPercent(null)).toBe("—");
  });

  it("writes spans of time in their two largest units, and ages in one past a minute", () => {
    expect(formatDuration(340)).toBe("340 ms");
    expect(formatDuration(65_000)).toBe("1 min 5 s");
    expect(formatDuration(3_600_000)).toBe("1 h");
    expect(formatDuration(90_061_000)).toBe("1 d 1 h");
    expect(formatAgo(1000, 1500)).toBe("just now");
    expect(formatAgo(0, 42_000)).toBe("42 s ago");
    expect(formatAgo(0, 17 * 60_000 + 49_000)).toBe("17 min ago");
    expect(formatAgo(null)).toBe("never");
    expect(formatLimits({})).toBe("none");
    expect(formatLimits({ bytesMax: 4 * 1024 * 1024, recordsMax: 10_000, discard: "new" })).toBe(
      "4.00 MiB · 10,000 records (refuse new)",
    );
  });
});
