/**
 * `tidemark repair [stream…|--all] [--dry-run]`: acts on what `verify` finds (the work is in
 * src/storage/repair/): damaged ranges cut out and saved under the stream's quarantine/, never
 * deleted; indexes and checkpoints rebuilt; then the repaired streams are read again. It needs
 * the writer lock (--dry-run does not): while a server holds the journal it says to stop it.
 *
 * Exit codes: 0 nothing damaged (left), 3 with --dry-run when there is something to repair,
 * 4 when damage is left that repair could not act on.
 */
import { resolve } from "node:path";
import { type RepairReport, repairJournal } from "../storage/index.js";
import { EXIT } from "./exit-codes.js";
import { cliError, lockedError, lockHolderOf } from "./journal-access.js";
import { Progress } from "./progress.js";

export interface RepairCliOptions {
  dir: string;
  streams: string[];
  all: boolean;
  dryRun: boolean;
  quiet: boolean;
}

export class RepairResult {
  constructor(readonly report: RepairReport) {}

  exitCode(): number {
    if (this.report.unrepaired.length > 0) return EXIT.UNREPAIRED;
    if (this.report.dryRun && this.report.actions.length > 0) return EXIT.DAMAGE;
    return EXIT.OK;
  }

  lines(): string[] {
    const r = this.report;
    const lines: string[] = [];
    for (const e of r.recovery) lines.push(`recovery at open: ${e.kind}: ${e.message}`);
    for (const d of r.damage) lines.push(`found: ${d.message}`);
    for (const a of r.actions) {
      lines.push(
        `${r.dryRun ? "would repair" : "repaired"}: ${a.stream}: ${a.message}${a.saved !== undefined && a.saved.length > 0 ? ` [${a.saved.join(", ")}]` : ""}`,
      );
    }
    for (const u of r.unrepaired)
      lines.push(`NOT repaired: ${u.stream === undefined ? "" : `${u.stream}: `}${u.message}`);
    const summary =
      r.actions.length === 0 && r.unrepaired.length === 0
        ? "nothing to repair"
        : r.dryRun
          ? `${r.actions.length} repair(s) to make; run again without --dry-run (the server must be stopped)`
          : `${r.actions.length} repair(s) made${r.unrepaired.length === 0 ? "; the repaired streams read back without damage" : ""}`;
    lines.push(`checked ${r.streamsChecked} stream(s), ${r.recordsRead} records: ${summary}`);
    return lines;
  }

  toJSON(): RepairReport {
    return this.report;
  }
}

export async function repair(options: RepairCliOptions): Promise<RepairResult> {
  if (options.all === options.streams.length > 0) {
    throw cliError("INVALID_ARGUMENT", "repair: name the streams to repair, or pass --all");
  }
  const progress = new Progress("repair", 0, options.quiet);
  try {
    const report = await repairJournal(resolve(options.dir), {
      streams: options.all ? "all" : options.streams,
      dryRun: options.dryRun,
      onProgress: (records) => progress.update(records, 0),
    });
    return new RepairResult(report);
  } catch (err) {
    const holder = lockHolderOf(err);
    if (holder === undefined) throw err;
    throw lockedError(
      options.dir,
      holder,
      "repair rewrites segment files and needs the writer lock: stop that process (a server: " +
        "SIGTERM, it finishes and exits), run tidemark repair, then start it again; " +
        "tidemark repair --dry-run works while it runs",
    );
  } finally {
    progress.stop();
  }
}
