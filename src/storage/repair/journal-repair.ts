/**
 * `tidemark repair`: acting on what a full read (verify) finds (docs/format.md §9.1).
 *
 * 1. Open the journal as its writer: recovery runs (the commit log is redone, torn tails cut)
 *    and is reported. Read every selected stream to the end, noting each CorruptError; note
 *    damaged consumer files. Close: every segment synced, the log empty.
 * 2. `dryRun`: stop there and say what would be done.
 * 3. With the writer lock taken again: per damaged segment, copy the damaged bytes to
 *    `quarantine/`, write the intact runs after the damage as new segments, store the lost seqs
 *    in stream.json, cut the original back; a missing or foreign segment's seqs become lost (a
 *    foreign file goes to quarantine); a damaged consumer file goes to quarantine. A stream whose
 *    active segment was repaired gets a fresh empty active segment and checkpoint. Indexes of
 *    every segment written are rebuilt.
 * 4. Open again and read the repaired streams: what is still damaged is reported as unrepaired.
 *
 * Nothing is deleted: every byte cut is under the stream's `quarantine/`.
 */
import { join } from "node:path";
import { CorruptError, isErrnoCode, TidemarkError } from "../../errors.js";
import { encodeCheckpoint } from "../../format/checkpoint.js";
import { decodeSegmentHeader } from "../../format/segment-header.js";
import { parseSegmentFileName, segmentFileName } from "../../format/segment-name.js";
import { readFully, writeFileAtomic } from "../fs/file-ops.js";
import { NodeFileSystem } from "../fs/node-file-system.js";
import { Journal } from "../journal/journal.js";
import { WriterLock } from "../journal/writer-lock.js";
import { CONSUMERS_DIR } from "../stream/consumer-store.js";
import { type LostRange, mergeLostRanges } from "../stream/lost-ranges.js";
import { createSegmentFile } from "../stream/segment-file.js";
import { readStreamDescriptor, writeStreamDescriptor } from "../stream/stream-descriptor.js";
import { CHECKPOINT_FILE, QUARANTINE_DIR } from "../stream/stream-files.js";
import { streamIdentity } from "../stream/stream-name.js";
import { cutOriginal, scanSegment, writeRuns } from "./segment-repair.js";

export interface RepairOptions {
  /** Stream names, or every stream. */
  streams: string[] | "all";
  dryRun: boolean;
  /** Called with records read so far while looking for damage. */
  onProgress?: (records: number) => void;
}

export interface RepairAction {
  stream: string;
  /** What was (or, with dryRun, would be) done. */
  action: "cut" | "mark-lost" | "quarantine-segment" | "quarantine-consumer" | "new-active-segment";
  segment?: string;
  offset?: number;
  bytes?: number;
  lost?: LostRange;
  saved?: string[];
  message: string;
}

export interface RepairReport {
  dir: string;
  dryRun: boolean;
  /** What recovery did when the journal was opened (torn tails cut, the log redone…). */
  recovery: Array<{ kind: string; stream?: string; message: string }>;
  damage: Array<{ stream: string; message: string }>;
  actions: RepairAction[];
  /** Damage still found after repairing, or that repair cannot act on. */
  unrepaired: Array<{ stream?: string; message: string }>;
  streamsChecked: number;
  recordsRead: number;
}

interface Found {
  stream: string;
  dirName: string;
  lastSeq: number;
  lastTimestampMs: number;
  errors: CorruptError[];
  consumerFiles: string[];
}

export async function repairJournal(dir: string, options: RepairOptions): Promise<RepairReport> {
  const report: RepairReport = {
    dir,
    dryRun: options.dryRun,
    recovery: [],
    damage: [],
    actions: [],
    unrepaired: [],
    streamsChecked: 0,
    recordsRead: 0,
  };
  const found = await findDamage(dir, options, report);
  if (options.dryRun) {
    for (const f of found) await planStream(dir, f, report, undefined);
    return report;
  }
  if (found.length === 0) return report;
  const lock = await WriterLock.acquire(new NodeFileSystem(), dir);
  try {
    const stamp = Date.now();
    for (const f of found) await planStream(dir, f, report, stamp);
  } finally {
    await lock.release();
  }
  // Check what repair did: read the repaired streams again.
  const again = await findDamage(
    dir,
    { ...options, streams: found.map((f) => f.stream) },
    undefined,
  );
  for (const f of again) {
    for (const e of f.errors) report.unrepaired.push({ stream: f.stream, message: e.message });
    for (const c of f.consumerFiles)
      report.unrepaired.push({ stream: f.stream, message: `consumer file ${c} is still damaged` });
  }
  return report;
}

async function findDamage(
  dir: string,
  options: RepairOptions,
  report: RepairReport | undefined,
): Promise<Found[]> {
  const journal = await Journal.open(dir, {
    readOnly: options.dryRun,
    onRecovery: (event) => {
      if (report === undefined) return;
      if (event.kind === "corrupt" && event.stream === undefined && event.path !== undefined) {
        report.unrepaired.push({
          message: `${event.message} (repair cannot rebuild a stream's stream.json: restore it from a backup or an export)`,
        });
      } else {
        report.recovery.push({
          kind: event.kind,
          ...(event.stream === undefined ? {} : { stream: event.stream }),
          message: event.message,
        });
      }
    },
  });
  const found: Found[] = [];
  try {
    const names = options.streams === "all" ? journal.list() : options.streams;
    for (const name of names) {
      if (!journal.list().includes(name)) {
        throw new TidemarkError(
          "NOT_FOUND",
          `there is no stream ${JSON.stringify(name)} in ${dir}`,
          { stream: name },
        );
      }
    }
    const damagedConsumers = new Map<string, string[]>();
    for (const event of journal.recovery) {
      if (
        event.kind === "corrupt" &&
        event.stream !== undefined &&
        event.path?.startsWith(`${CONSUMERS_DIR}/`)
      ) {
        damagedConsumers.set(event.stream, [
          ...(damagedConsumers.get(event.stream) ?? []),
          event.path,
        ]);
      }
    }
    for (const name of names) {
      const stream = await journal.stream(name);
      if (report !== undefined) report.streamsChecked++;
      const errors: CorruptError[] = [];
      let after = stream.info().firstSeq - 1;
      for (;;) {
        try {
          for await (const record of stream.read({ after })) {
            after = record.seq;
            if (report !== undefined && (++report.recordsRead & 0xffff) === 0)
              options.onProgress?.(report.recordsRead);
          }
          break;
        } catch (err) {
          if (!(err instanceof CorruptError)) throw err;
          errors.push(err);
          report?.damage.push({ stream: name, message: err.message });
          const resume = err.context.resumeAfter;
          if (resume === undefined || resume <= after) break;
          after = resume;
        }
      }
      const consumerFiles = damagedConsumers.get(name) ?? [];
      if (errors.length > 0 || consumerFiles.length > 0) {
        const info = stream.info();
        found.push({
          stream: name,
          dirName: streamIdentity(name).dirName,
          lastSeq: info.lastSeq,
          lastTimestampMs: info.lastAppendAt ?? info.createdAt,
          errors,
          consumerFiles,
        });
      }
    }
  } finally {
    await journal.close();
  }
  return found;
}

/**
 * Works out (and, with a `stamp`, carries out) the repair of one stream. Without a stamp
 * (dry run) only the report is written.
 */
async function planStream(
  dir: string,
  f: Found,
  report: RepairReport,
  stamp: number | undefined,
): Promise<void> {
  const fs = new NodeFileSystem();
  const streamDir = join(dir, "streams", f.dirName);
  const { tag } = streamIdentity(f.stream);
  const bases = (await fs.readdir(streamDir))
    .map((name) => parseSegmentFileName(name))
    .filter((base): base is number => base !== undefined)
    .sort((a, b) => a - b);
  const activeBase = bases[bases.length - 1]!;
  const lastOf = (base: number) => {
    const next = bases.find((b) => b > base);
    return next === undefined ? f.lastSeq : next - 1;
  };
  const lost: LostRange[] = [];
  let activeTouched = false;
  const done = new Set<string>();
  for (const error of f.errors) {
    const segment = error.context.segment;
    const base = segment === undefined ? undefined : parseSegmentFileName(segment);
    const firstLost = error.context.firstSeqLost;
    const lastLost = error.context.lastSeqLost;
    if (base === undefined || done.has(segment!)) continue;
    done.add(segment!);
    if (!bases.includes(base)) {
      if (firstLost !== undefined && lastLost !== undefined) {
        lost.push([firstLost, lastLost]);
        report.actions.push({
          stream: f.stream,
          action: "mark-lost",
          segment,
          lost: [firstLost, lastLost],
          message: `${segment} is missing: seqs ${firstLost}..${lastLost} marked lost`,
        });
      }
      continue;
    }
    if (await isForeign(fs, streamDir, base, tag)) {
      const range: LostRange = [base, lastOf(base)];
      lost.push(range);
      const saved =
        stamp === undefined ? [] : [await quarantineFile(fs, streamDir, segment!, stamp)];
      if (base === activeBase) activeTouched = true;
      report.actions.push({
        stream: f.stream,
        action: "quarantine-segment",
        segment,
        lost: range,
        saved,
        message: `${segment} belongs to another stream or seq: moved to quarantine, seqs ${range[0]}..${range[1]} marked lost`,
      });
      continue;
    }
    const scan = await scanSegment(fs, streamDir, base, lastOf(base));
    if (scan.damage.length === 0) continue;
    const rewrite =
      stamp === undefined ? undefined : await writeRuns(fs, streamDir, scan, tag, stamp);
    for (const range of scan.damage) {
      if (range.lost !== undefined) lost.push(range.lost);
      if (range.bytes === 0 && range.lost !== undefined) {
        // The segment ends early: the seqs after it were in a segment file that is gone.
        report.actions.push({
          stream: f.stream,
          action: "mark-lost",
          segment,
          lost: range.lost,
          message: `seqs ${range.lost[0]}..${range.lost[1]} after ${segment} are in no segment file (one was lost): marked lost`,
        });
        continue;
      }
      report.actions.push({
        stream: f.stream,
        action: "cut",
        segment,
        offset: range.offset,
        bytes: range.bytes,
        ...(range.lost === undefined ? {} : { lost: range.lost }),
        saved: rewrite?.quarantined ?? [],
        message:
          `${segment}: ${range.bytes} damaged bytes at offset ${range.offset} cut out` +
          (range.lost === undefined
            ? ""
            : `, seqs ${range.lost[0]}..${range.lost[1]} marked lost`) +
          (stamp === undefined ? "" : ` (saved under ${QUARANTINE_DIR}/)`),
      });
    }
    if (base === activeBase) activeTouched = true;
    if (stamp !== undefined) {
      // The lost seqs are stored before the original is cut (see segment-repair.ts).
      await storeLost(fs, streamDir, f.dirName, lost);
      const moved = await cutOriginal(fs, streamDir, scan, tag, stamp);
      if (moved !== undefined)
        report.actions.push({
          stream: f.stream,
          action: "quarantine-segment",
          segment,
          saved: [moved],
          message: `${segment} kept no intact record at its start: moved to ${moved}`,
        });
    }
  }
  if (stamp !== undefined && lost.length > 0) await storeLost(fs, streamDir, f.dirName, lost);
  if (activeTouched) {
    report.actions.push({
      stream: f.stream,
      action: "new-active-segment",
      segment: segmentFileName(f.lastSeq + 1),
      message: `appends continue in a new segment ${segmentFileName(f.lastSeq + 1)} (with a new checkpoint)`,
    });
    if (stamp !== undefined) await newActiveSegment(fs, streamDir, f, tag, bases);
  }
  for (const path of f.consumerFiles) {
    const saved = stamp === undefined ? [] : [await quarantineFile(fs, streamDir, path, stamp)];
    report.actions.push({
      stream: f.stream,
      action: "quarantine-consumer",
      saved,
      message: `damaged consumer file ${path} moved to quarantine: that consumer starts again from the stream's first seq when it next acknowledges`,
    });
  }
}

async function isForeign(
  fs: NodeFileSystem,
  dir: string,
  base: number,
  tag: number,
): Promise<boolean> {
  const file = await fs.open(join(dir, segmentFileName(base)), "read");
  try {
    const buf = Buffer.alloc(32);
    await readFully(file, buf, 0, 32, 0);
    const header = decodeSegmentHeader(buf);
    return (
      typeof header !== "string" && (header.baseSeq !== base || header.streamTag !== tag >>> 0)
    );
  } finally {
    await file.close();
  }
}

async function quarantineFile(
  fs: NodeFileSystem,
  dir: string,
  path: string,
  stamp: number,
): Promise<string> {
  try {
    await fs.mkdir(join(dir, QUARANTINE_DIR));
  } catch (err) {
    if (!isErrnoCode(err, "EEXIST")) throw err;
  }
  const target = join(QUARANTINE_DIR, `${path.replace(/\//g, "_")}.${stamp}`);
  await fs.rename(join(dir, path), join(dir, target));
  await fs.syncDir(dir);
  return target;
}

async function storeLost(
  fs: NodeFileSystem,
  dir: string,
  dirName: string,
  lost: LostRange[],
): Promise<void> {
  const descriptor = await readStreamDescriptor(fs, dir, dirName);
  descriptor.lost = mergeLostRanges(descriptor.lost ?? [], lost);
  await writeStreamDescriptor(fs, dir, descriptor, true);
}

/** An empty active segment after the last seq, and a checkpoint for it (§7). */
async function newActiveSegment(
  fs: NodeFileSystem,
  dir: string,
  f: Found,
  tag: number,
  bases: number[],
): Promise<void> {
  const base = f.lastSeq + 1;
  if (!bases.includes(base)) {
    const file = await createSegmentFile(fs, dir, base, f.lastTimestampMs, tag, true);
    await file.close();
  }
  await writeFileAtomic(
    fs,
    dir,
    CHECKPOINT_FILE,
    encodeCheckpoint({
      segmentBaseSeq: base,
      lastRecordOffset: 0,
      endOffset: 32,
      lastSeq: base - 1,
      lastTimestampMs: f.lastTimestampMs,
      lastRecordCrc: 0,
    }),
    true,
  );
}
