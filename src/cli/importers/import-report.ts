/**
 * What an import did: the streams (or outbox entries) it wrote and every part of the source it
 * could not take, by position (line and byte), so nothing is skipped silently. At most
 * `PROBLEMS_KEPT` problems are listed; the rest are counted.
 */
import type { TargetSummary } from "./record-target.js";

const PROBLEMS_KEPT = 1000;

export type ProblemKind = "torn" | "garbled" | "out-of-order" | "not-imported";

export interface ImportProblem {
  /** The file (or "-" for stdin). */
  source: string;
  /** 1-based line, for line formats. */
  line?: number;
  /** Byte offset in the source where the problem starts. */
  byte: number;
  /** Bytes affected, when known. */
  bytes?: number;
  kind: ProblemKind;
  reason: string;
}

export interface OutboxImportSummary {
  outbox: string;
  pending: number;
  conflicts: number;
}

export class ImportReport {
  readonly streams: TargetSummary[] = [];
  readonly problems: ImportProblem[] = [];
  problemsNotListed = 0;
  outbox: OutboxImportSummary | undefined;
  /** Bytes of the source read. */
  bytes = 0;

  constructor(readonly format: string) {}

  problem(problem: ImportProblem): void {
    if (this.problems.length < PROBLEMS_KEPT) this.problems.push(problem);
    else this.problemsNotListed++;
  }

  get problemCount(): number {
    return this.problems.length + this.problemsNotListed;
  }

  toJSON() {
    return {
      format: this.format,
      streams: this.streams,
      ...(this.outbox === undefined ? {} : { outbox: this.outbox }),
      problems: this.problems,
      problemsNotListed: this.problemsNotListed,
      bytes: this.bytes,
    };
  }
}

export function describeProblem(p: ImportProblem): string {
  const where = `${p.source}${p.line === undefined ? "" : ` line ${p.line}`} (byte ${p.byte}${
    p.bytes === undefined ? "" : `, ${p.bytes} bytes`
  })`;
  return `${p.kind}: ${where}: ${p.reason}`;
}
