/**
 * How figures read on the page: bytes in binary units (the journal's limits are set in them),
 * counts with thousands separators, times as local date-time and as "how long ago". Pure
 * functions: the browser tests use them to check the page shows what the server reports.
 */

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "—";
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${bytes < 0 ? "-" : ""}${value.toFixed(digits)} ${BYTE_UNITS[unit]}`;
}

export function formatCount(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return Math.round(value).toLocaleString("en-US");
}

/** A rate, short: 950, 12.3k, 1.25M. */
export function formatRate(value: number): string {
  if (!Number.isFinite(value)) return "—";
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${(value / 1e9).toFixed(2)}G`;
  if (abs >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(value === 0 ? 0 : 2);
}

export function formatPercent(fraction: number | null | undefined): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return "—";
  const percent = fraction * 100;
  if (percent > 0 && percent < 0.1) return "< 0.1%";
  return `${percent >= 10 || percent === 0 ? percent.toFixed(0) : percent.toFixed(1)}%`;
}

/** A span of time, the two largest units: "3 d 4 h", "2 min 5 s", "340 ms". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const units: Array<[string, number]> = [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["min", 60_000],
    ["s", 1000],
  ];
  const parts: Array<[number, string]> = [];
  let rest = Math.floor(ms);
  for (const [name, size] of units) {
    const count = Math.floor(rest / size);
    if (count > 0 || parts.length > 0) {
      parts.push([count, name]);
      rest -= count * size;
    }
    if (parts.length === 2) break;
  }
  return parts
    .filter(([count]) => count > 0)
    .map(([count, name]) => `${count} ${name}`)
    .join(" ");
}

/** How long ago, in its largest unit past a minute: "just now", "42 s ago", "17 min ago". */
export function formatAgo(ms: number | null | undefined, nowMs: number = Date.now()): string {
  if (ms === null || ms === undefined) return "never";
  const age = nowMs - ms;
  if (age < 1500) return "just now";
  const text = formatDuration(age);
  return `${age >= 60_000 ? text.split(" ").slice(0, 2).join(" ") : text} ago`;
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** Local time, to the second: 2026-11-23 14:02:11. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  const d = new Date(ms);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** Local time with milliseconds, for messages. */
export function formatTimeMs(ms: number): string {
  return `${formatTime(ms)}.${pad(new Date(ms).getMilliseconds(), 3)}`;
}

export function formatLimits(limits: {
  bytesMax?: number;
  recordsMax?: number;
  ageMsMax?: number;
  discard?: string;
}): string {
  const parts: string[] = [];
  if (limits.bytesMax !== undefined) parts.push(formatBytes(limits.bytesMax));
  if (limits.recordsMax !== undefined) parts.push(`${formatCount(limits.recordsMax)} records`);
  if (limits.ageMsMax !== undefined) parts.push(formatDuration(limits.ageMsMax));
  if (parts.length === 0) return "none";
  return `${parts.join(" · ")}${limits.discard === "new" ? " (refuse new)" : ""}`;
}
