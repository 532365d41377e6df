/**
 * `--format ndjson`: one JSON value per line. Two shapes, told apart by the first line:
 *
 * - tidemark's own export lines, `{"stream","seq","timestamp",["attributes",]"json"|"text"|
 *   "base64"}`: each record goes back to its stream with its seq and timestamp, and a JSON
 *   payload with the bytes the line holds;
 * - any other JSON value per line (an event log such as a run ledger's `events.ndjson`): the
 *   line's bytes are the payload, numbered 1, 2, 3… in line order, and a `timestamp` field in
 *   ms, if the line is an object that has one, is the record's timestamp (a line without one
 *   takes the previous line's; the first ones the time of the import).
 *
 * A line that is not JSON is reported with its number and byte offset and not imported; the
 * last line, cut off before its newline by a crash, is reported as a torn tail.
 */
import { basename, extname } from "node:path";
import type { Journal } from "../../index.js";
import type { ByteSource } from "../io/byte-source.js";
import { cliError } from "../journal-access.js";
import type { Progress } from "../progress.js";
import type { ImportReport } from "./import-report.js";
import { LINE_BYTES_MAX, type Line, readLines } from "./lines.js";
import { RecordTarget } from "./record-target.js";

/** Streams one ndjson import may write at once (each holds a write buffer and a file). */
const STREAMS_OPEN_MAX = 64;
const PAYLOAD_FIELDS = ["json", "text", "base64"] as const;
const ENVELOPE_KEYS = new Set(["stream", "seq", "timestamp", "attributes", ...PAYLOAD_FIELDS]);

export interface NdjsonImportOptions {
  sourceName: string;
  /** Target stream (all lines), overriding the lines' own or the file name. */
  stream?: string;
  append: boolean;
  progress: Progress;
}

interface Envelope {
  stream: string;
  seq: number;
  timestamp: number;
  payload: Buffer;
  attributes?: Buffer;
}

export async function importNdjson(
  source: ByteSource,
  journal: Journal,
  options: NdjsonImportOptions,
  report: ImportReport,
): Promise<void> {
  const targets = new Map<string, RecordTarget>();
  const now = Date.now();
  let mode: "envelope" | "plain" | undefined;
  let lastTimestamp = now;
  try {
    for await (const line of readLines(source)) {
      if (line.tooLong !== undefined) {
        report.problem({
          source: options.sourceName,
          line: line.number,
          byte: line.byte,
          bytes: line.tooLong,
          kind: "garbled",
          reason: `the line is longer than ${LINE_BYTES_MAX} bytes; not imported`,
        });
        continue;
      }
      if (line.bytes.byteLength === 0 || line.text.trim() === "") continue;
      const value = parseLine(line, options.sourceName, report);
      if (value === undefined) continue;
      mode ??= envelopeOf(value, line) === undefined ? "plain" : "envelope";
      if (mode === "envelope") {
        const envelope = envelopeOf(value, line);
        if (envelope === undefined) {
          report.problem({
            source: options.sourceName,
            line: line.number,
            byte: line.byte,
            kind: "garbled",
            reason: "not a tidemark export line like the lines before it; not imported",
          });
          continue;
        }
        const name = options.stream ?? envelope.stream;
        const target = await targetFor(journal, targets, name, options, true, envelope.timestamp);
        if (target.last >= envelope.seq && target.last > 0) {
          report.problem({
            source: options.sourceName,
            line: line.number,
            byte: line.byte,
            kind: "out-of-order",
            reason: `seq ${envelope.seq} of stream ${name} is not above the seq before it (${target.last}); not imported`,
          });
          continue;
        }
        const pending = target.add(
          envelope.seq,
          envelope.timestamp,
          envelope.payload,
          envelope.attributes,
        );
        if (pending !== undefined) await pending;
      } else {
        const name = options.stream ?? defaultStreamName(options.sourceName);
        const stamp = timestampOf(value);
        if (stamp !== undefined) lastTimestamp = stamp;
        const target = await targetFor(journal, targets, name, options, false, lastTimestamp);
        const pending = target.add(undefined, lastTimestamp, Buffer.from(line.bytes));
        if (pending !== undefined) await pending;
      }
      if ((line.number & 0x3ff) === 0) options.progress.update(source.position, source.position);
    }
    for (const target of targets.values()) report.streams.push(await target.finish());
  } catch (err) {
    for (const target of targets.values()) await target.abort();
    throw err;
  }
  report.bytes = source.position;
}

function parseLine(line: Line, sourceName: string, report: ImportReport): unknown {
  if (!line.utf8) {
    report.problem({
      source: sourceName,
      line: line.number,
      byte: line.byte,
      bytes: line.bytes.byteLength,
      kind: line.terminated ? "garbled" : "torn",
      reason: "the line is not UTF-8 text; not imported",
    });
    return undefined;
  }
  try {
    return JSON.parse(line.text);
  } catch {
    report.problem({
      source: sourceName,
      line: line.number,
      byte: line.byte,
      bytes: line.bytes.byteLength,
      kind: line.terminated ? "garbled" : "torn",
      reason: line.terminated
        ? "the line is not JSON; not imported"
        : "the last line is cut off (no newline, not JSON): a write the crash interrupted; not imported",
    });
    return undefined;
  }
}

/** A tidemark export line, or undefined. */
function envelopeOf(value: unknown, line: Line): Envelope | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (!keys.every((k) => ENVELOPE_KEYS.has(k))) return undefined;
  const fields = PAYLOAD_FIELDS.filter((f) => f in record);
  const { stream, seq, timestamp } = record;
  if (
    fields.length !== 1 ||
    typeof stream !== "string" ||
    !Number.isSafeInteger(seq) ||
    (seq as number) < 1 ||
    !Number.isSafeInteger(timestamp) ||
    (timestamp as number) < 0
  ) {
    return undefined;
  }
  const field = fields[0]!;
  let payload: Buffer;
  if (field === "json") {
    // The payload's own bytes: everything after the (last, structural) "json" key.
    const at = line.text.indexOf(',"json":');
    payload =
      at !== -1 && line.text.endsWith("}")
        ? Buffer.from(line.text.slice(at + 8, -1), "utf8")
        : Buffer.from(JSON.stringify(record["json"]), "utf8");
  } else if (typeof record[field] !== "string") {
    return undefined;
  } else {
    payload = Buffer.from(record[field] as string, field === "base64" ? "base64" : "utf8");
  }
  const envelope: Envelope = {
    stream,
    seq: seq as number,
    timestamp: timestamp as number,
    payload,
  };
  if (typeof record["attributes"] === "string")
    envelope.attributes = Buffer.from(record["attributes"], "base64");
  return envelope;
}

/** A `timestamp` field in ms since the epoch, if the value is an object that has one. */
function timestampOf(value: unknown): number | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const ts = (value as Record<string, unknown>)["timestamp"];
  return typeof ts === "number" && Number.isSafeInteger(ts) && ts >= 0 ? ts : undefined;
}

export function defaultStreamName(sourceName: string): string {
  if (sourceName === "-") {
    throw cliError("INVALID_ARGUMENT", "name the stream to import stdin into with --stream");
  }
  return basename(sourceName, extname(sourceName));
}

async function targetFor(
  journal: Journal,
  targets: Map<string, RecordTarget>,
  name: string,
  options: NdjsonImportOptions,
  ownSeqs: boolean,
  firstTimestamp: number,
): Promise<RecordTarget> {
  const known = targets.get(name);
  if (known !== undefined) return known;
  if (targets.size >= STREAMS_OPEN_MAX) {
    throw cliError(
      "INVALID_ARGUMENT",
      `an ndjson import writes at most ${STREAMS_OPEN_MAX} streams; split the file`,
    );
  }
  const target = await RecordTarget.open(journal, name, {
    append: options.append,
    ownSeqs,
    timestamps: ownSeqs ? "kept" : "the lines' timestamp fields (ms), else the line before's",
    createdAtMs: Math.min(firstTimestamp, Date.now()),
  });
  targets.set(name, target);
  return target;
}
