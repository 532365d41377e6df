/**
 * `--format jsonl-segments`: a directory of JSONL files named `<prefix><20-digit start seq>.jsonl`
 * (a change-feed journal rotated by size), each line an event with a `seq` field. Files are read
 * in start-seq order into one stream; seqs are kept (the oldest files may have been pruned: the
 * stream starts at the first seq found; a gap between two events is recorded as lost). A `ts` or
 * `timestamp` field (ms, or an RFC 3339 date) is the record's timestamp; the payload is the
 * line's bytes. Torn and garbled lines (a crash mid-write leaves a partial line, possibly not
 * even UTF-8) are reported with file, line and byte offset; so is an event whose seq does not
 * follow the one before it, and a file whose name does not match its first event.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Journal } from "../../index.js";
import { ByteSource } from "../io/byte-source.js";
import { cliError } from "../journal-access.js";
import type { Progress } from "../progress.js";
import type { ImportReport } from "./import-report.js";
import { LINE_BYTES_MAX, readLines } from "./lines.js";
import { RecordTarget } from "./record-target.js";

const SEGMENT_FILE = /^(.*?)(\d{20})\.jsonl$/;

export interface JsonlSegmentsOptions {
  stream?: string;
  append: boolean;
  progress: Progress;
}

export async function listJsonlSegments(
  dir: string,
): Promise<Array<{ file: string; prefix: string; startSeq: number }>> {
  const files = [];
  for (const file of await readdir(dir)) {
    const match = SEGMENT_FILE.exec(file);
    if (match === null) continue;
    files.push({ file, prefix: match[1]!, startSeq: Number(match[2]) });
  }
  return files.sort((a, b) => a.startSeq - b.startSeq);
}

export async function importJsonlSegments(
  dir: string,
  journal: Journal,
  options: JsonlSegmentsOptions,
  report: ImportReport,
): Promise<void> {
  const files = await listJsonlSegments(dir);
  if (files.length === 0) {
    throw cliError("INVALID_ARGUMENT", `${dir} holds no <prefix><20-digit seq>.jsonl files`);
  }
  const prefix = files[0]!.prefix.replace(/[-_.]+$/, "");
  const name = options.stream ?? (prefix.length > 0 ? prefix : "events");
  let target: RecordTarget | undefined;
  let bytes = 0;
  // An event without a time takes the one before it (the first ones: the time of the import).
  let lastTs = Date.now();
  try {
    for (const { file, startSeq } of files) {
      const path = join(dir, file);
      const source = ByteSource.open(path);
      let first = true;
      try {
        for await (const line of readLines(source)) {
          const at = { source: path, line: line.number, byte: line.byte };
          if (line.tooLong !== undefined) {
            report.problem({
              ...at,
              bytes: line.tooLong,
              kind: "garbled",
              reason: `the line is longer than ${LINE_BYTES_MAX} bytes; not imported`,
            });
            continue;
          }
          if (line.text.trim() === "" && line.utf8) continue;
          const kind = line.terminated ? "garbled" : "torn";
          if (!line.utf8) {
            report.problem({
              ...at,
              bytes: line.bytes.byteLength,
              kind,
              reason: "the line is not UTF-8 text; not imported",
            });
            continue;
          }
          let event: unknown;
          try {
            event = JSON.parse(line.text);
          } catch {
            report.problem({
              ...at,
              bytes: line.bytes.byteLength,
              kind,
              reason: line.terminated
                ? "the line is not JSON; not imported"
                : "the last line is cut off (a crash mid-write); not imported",
            });
            continue;
          }
          const seq = (event as { seq?: unknown } | null)?.seq;
          if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) {
            report.problem({
              ...at,
              bytes: line.bytes.byteLength,
              kind: "garbled",
              reason: "the event has no seq (a positive integer); not imported",
            });
            continue;
          }
          if (first && seq !== startSeq) {
            report.problem({
              ...at,
              kind: "out-of-order",
              reason: `the file is named for seq ${startSeq} but starts at seq ${seq} (imported as ${seq})`,
            });
          }
          first = false;
          const timestamp = timestampOf(event);
          if (timestamp !== undefined) lastTs = timestamp;
          target ??= await RecordTarget.open(journal, name, {
            append: options.append,
            ownSeqs: true,
            timestamps: "the events' ts or timestamp fields",
            createdAtMs: Math.min(timestamp ?? Date.now(), Date.now()),
          });
          if (target.last >= seq) {
            report.problem({
              ...at,
              kind: "out-of-order",
              reason: `seq ${seq} is not above the seq before it (${target.last}); not imported`,
            });
            continue;
          }
          const pending = target.add(seq, lastTs, Buffer.from(line.bytes));
          if (pending !== undefined) await pending;
          if ((line.number & 0x3ff) === 0)
            options.progress.update(bytes + source.position, bytes + source.position);
        }
        bytes += source.position;
      } finally {
        await source.close();
      }
    }
    if (target !== undefined) report.streams.push(await target.finish());
  } catch (err) {
    await target?.abort();
    throw err;
  }
  report.bytes = bytes;
}

/** `ts` or `timestamp`: ms since the epoch, or a date string (RFC 3339). */
export function timestampOf(event: unknown): number | undefined {
  if (typeof event !== "object" || event === null) return undefined;
  const record = event as Record<string, unknown>;
  for (const key of ["ts", "timestamp"]) {
    const value = record[key];
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
    if (typeof value === "string") {
      const ms = Date.parse(value);
      if (Number.isFinite(ms) && ms >= 0) return ms;
    }
  }
  return undefined;
}
