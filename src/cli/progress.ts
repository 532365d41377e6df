/**
 * Progress bars for long commands (export, import, verify, repair): records and bytes done, the
 * rate and the time left, drawn by cli-progress on stderr. Only on a terminal, never with
 * --quiet, and only once the command has run for a second: piped output and short runs carry
 * nothing but their data. `total` may be unknown (stdin): the bar then shows counts and rate.
 */
import cliProgress from "cli-progress";

/** Work shorter than this draws no bar (TIDEMARK_PROGRESS_AFTER_MS changes it; 0: always). */
const SHOW_AFTER_MS = showAfterMs(process.env["TIDEMARK_PROGRESS_AFTER_MS"]);

function showAfterMs(text: string | undefined): number {
  const ms = text === undefined ? Number.NaN : Number(text);
  return Number.isSafeInteger(ms) && ms >= 0 ? ms : 1000;
}

export class Progress {
  private bar: cliProgress.SingleBar | undefined;
  private readonly startedAt = performance.now();
  private readonly enabled: boolean;

  constructor(
    private readonly label: string,
    /** Records (or bytes, with `unit`) expected; 0 when unknown. */
    private total: number,
    quiet: boolean,
    private readonly unit = "records",
  ) {
    this.enabled = !quiet && process.stderr.isTTY === true;
  }

  /** `done` of `total`, and bytes so far (shown beside it). */
  update(done: number, bytes: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (this.bar === undefined) {
      if (now - this.startedAt < SHOW_AFTER_MS) return;
      this.bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format:
            this.total > 0
              ? `${this.label} |{bar}| {percentage}% | {value}/{total} ${this.unit} | {bytes} | {rate}/s | {eta_formatted} left`
              : `${this.label} | {value} ${this.unit} | {bytes} | {rate}/s | {duration_formatted}`,
          hideCursor: true,
          etaBuffer: 50,
          fps: 5,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(
        this.total > 0 ? this.total : Math.max(done, 1),
        done,
        this.payload(done, bytes, now),
      );
      return;
    }
    if (this.total === 0) this.bar.setTotal(Math.max(done, 1));
    this.bar.update(done, this.payload(done, bytes, now));
  }

  /** The total became known (or changed). */
  setTotal(total: number): void {
    this.total = total;
    this.bar?.setTotal(total);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }

  private payload(done: number, bytes: number, now: number) {
    const seconds = Math.max((now - this.startedAt) / 1000, 0.001);
    return { bytes: formatBytes(bytes), rate: formatCount(done / seconds) };
  }
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}
