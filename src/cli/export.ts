/**
 * `tidemark export <stream>… | --all [--after seq] [--format archive|ndjson|raw] [-o file]`.
 * Reads the journal read-only (it works while a server writes it) and writes:
 *
 * - archive (default): tidemark's own format (docs/format.md §15): every stream with its seqs,
 *   timestamps, attributes, metadata, limits and consumers, checksummed; `import` restores it
 *   exactly;
 * - ndjson: one JSON object per record, `{"stream","seq","timestamp",["attributes",]
 *   "json"|"text"|"base64"}`, the payload field last (so `import` can take a JSON payload's
 *   bytes as they are); `import --format ndjson` reads it back;
 * - raw: the payloads of one stream, back to back (a terminal's bytes, a log's lines).
 *
 * Each stream is read up to its last seq at the moment its turn comes; appends after that are
 * not in the export. `-o -` (the default) is stdout.
 */

import { encodeArchiveEnd, encodeArchiveHeader, encodeArchiveStream } from "../format/archive.js";
import { RECORD_FLAG_COMMIT, RECORD_HEADER_BYTES } from "../format/constants.js";
import { encodeRecord } from "../format/record.js";
import type { JournalRecord, Stream } from "../storage/index.js";
import { ByteSink } from "./io/byte-sink.js";
import { cliError, openReadOnly, selectStreams } from "./journal-access.js";
import { Progress } from "./progress.js";

/** Records asked of the reader at a time (they share one read buffer). */
const EXPORT_BATCH_RECORDS = 1024;

export type ExportFormat = "archive" | "ndjson" | "raw";

export interface ExportOptions {
  dir: string;
  streams: string[];
  all: boolean;
  after?: number;
  format: ExportFormat;
  output: string;
  quiet: boolean;
}

export interface ExportSummary {
  format: ExportFormat;
  streams: Array<{ name: string; records: number; firstSeq: number; lastSeq: number }>;
  records: number;
  bytes: number;
}

export async function exportStreams(options: ExportOptions): Promise<ExportSummary> {
  const journal = await openReadOnly(options.dir);
  try {
    const names = selectStreams(journal, options.streams, options.all, "export");
    if (options.format === "raw" && names.length !== 1) {
      throw cliError("INVALID_ARGUMENT", "--format raw exports exactly one stream; name one");
    }
    const streams: Stream[] = [];
    for (const name of names) streams.push(await journal.stream(name));
    const total = streams.reduce((sum, s) => sum + countAfter(s, options.after), 0);
    const sink = ByteSink.open(options.output);
    const progress = new Progress("export", total, options.quiet);
    const summary: ExportSummary = { format: options.format, streams: [], records: 0, bytes: 0 };
    try {
      if (options.format === "archive")
        await writeArchive(streams, options, sink, progress, summary);
      else await writeLines(streams, options, sink, progress, summary);
      await sink.close();
    } finally {
      progress.stop();
    }
    summary.bytes = sink.bytes;
    return summary;
  } finally {
    await journal.close();
  }
}

function countAfter(stream: Stream, after: number | undefined): number {
  const info = stream.info();
  if (after === undefined || after < info.firstSeq) return info.records;
  return Math.max(0, info.lastSeq - after);
}

/** Where a stream's export starts: after `--after`, or from its first record. */
function startAfter(stream: Stream, after: number | undefined): number {
  const first = stream.info().firstSeq - 1;
  return after === undefined ? first : Math.max(after, first);
}

async function writeArchive(
  streams: Stream[],
  options: ExportOptions,
  sink: ByteSink,
  progress: Progress,
  summary: ExportSummary,
): Promise<void> {
  await sink.write(encodeArchiveHeader(Date.now()));
  for (const stream of streams) {
    const info = stream.info();
    const after = Math.min(startAfter(stream, options.after), info.lastSeq);
    const records = countBetween(stream, after + 1, info.lastSeq);
    const header = encodeArchiveStream(
      {
        name: stream.name,
        createdAtMs: info.createdAt,
        firstSeq: after + 1,
        lastSeq: info.lastSeq,
        meta: { ...stream.meta },
        limits: { ...stream.limits },
        retention: stream.retention,
        consumers: stream.consumers().map((c) => ({ name: c.name, position: c.position })),
      },
      records,
    );
    await sink.write(header);
    let written = 0;
    // In batches into one reused read buffer: each record is copied out before the next batch.
    const read = records === 0 ? undefined : stream.readBatches({ after, limit: records });
    try {
      for (;;) {
        const batch = await read?.nextBatch(EXPORT_BATCH_RECORDS);
        if (batch === undefined) break;
        let past = false;
        for (const record of batch) {
          if (record.seq > info.lastSeq) {
            past = true;
            break;
          }
          const attrBytes = record.attributes?.byteLength ?? 0;
          const size = RECORD_HEADER_BYTES + attrBytes + record.payload.byteLength;
          const room = sink.ensure(size);
          if (room !== undefined) await room;
          if (!copyEncoded(record, attrBytes, size, sink.buffer, sink.used)) {
            encodeRecord(
              sink.buffer,
              sink.used,
              record.seq,
              record.timestamp,
              RECORD_FLAG_COMMIT,
              record.attributes,
              record.payload,
              record.payload.byteLength,
            );
          }
          sink.used += size;
          written++;
          if ((written & 0x3ff) === 0) progress.update(summary.records + written, sink.bytes);
        }
        if (past) break;
      }
    } finally {
      await read?.return?.();
    }
    if (written !== records) {
      throw cliError(
        "CORRUPT",
        `stream ${stream.name}: expected ${records} records after seq ${after}, read ${written}; ` +
          "run tidemark verify",
      );
    }
    summary.records += written;
    summary.streams.push({
      name: stream.name,
      records: written,
      firstSeq: after + 1,
      lastSeq: info.lastSeq,
    });
    progress.update(summary.records, sink.bytes);
  }
  // The end's crc continues the CRC of every byte before it (§15.3).
  await sink.write(encodeArchiveEnd(streams.length, summary.records, sink.checksum));
}

/** A Buffer over the block the last record was read from (reads yield views into blocks). */
let block: { source: ArrayBufferLike; bytes: Buffer } | undefined;

/**
 * Copies the record's bytes as the journal stored them (§4.2) into `target`, when the payload
 * read is a view into the block it was decoded from (a segment read: the header and attributes
 * sit just before it): CRC and COMMIT flag included, nothing encoded again. The header found
 * there is checked (seq, lengths) first; returns false if it is not the record's, and the
 * caller encodes it afresh.
 */
function copyEncoded(
  record: JournalRecord,
  attrBytes: number,
  size: number,
  target: Buffer,
  at: number,
): boolean {
  const { payload } = record;
  const start = payload.byteOffset - attrBytes - RECORD_HEADER_BYTES;
  if (start < 0) return false;
  if (block?.source !== payload.buffer)
    block = { source: payload.buffer, bytes: Buffer.from(payload.buffer) };
  const bytes = block.bytes;
  if (
    bytes.readUInt32LE(start + 8) + bytes.readUInt32LE(start + 12) * 2 ** 32 !== record.seq ||
    bytes.readUInt32LE(start + 4) !== size - RECORD_HEADER_BYTES ||
    bytes.readUInt16LE(start + 26) !== attrBytes
  ) {
    return false;
  }
  bytes.copy(target, at, start, start + size);
  return true;
}

/** Records a stream holds in `from..to` (its lost seqs are not counted). */
function countBetween(stream: Stream, from: number, to: number): number {
  if (to < from) return 0;
  let count = to - from + 1;
  for (const [first, last] of stream.lost) {
    const lo = Math.max(first, from);
    const hi = Math.min(last, to);
    if (hi >= lo) count -= hi - lo + 1;
  }
  return count;
}

async function writeLines(
  streams: Stream[],
  options: ExportOptions,
  sink: ByteSink,
  progress: Progress,
  summary: ExportSummary,
): Promise<void> {
  for (const stream of streams) {
    const info = stream.info();
    const after = Math.min(startAfter(stream, options.after), info.lastSeq);
    const nameJson = JSON.stringify(stream.name);
    let written = 0;
    let lastSeq = after;
    for await (const record of stream.read({ after })) {
      if (options.format === "raw") {
        const room = sink.write(record.payload);
        if (room !== undefined) await room;
      } else {
        const attributes =
          record.attributes === undefined
            ? ""
            : `"attributes":"${Buffer.from(record.attributes).toString("base64")}",`;
        const line = `{"stream":${nameJson},"seq":${record.seq},"timestamp":${record.timestamp},${attributes}${payloadField(record.payload)}}\n`;
        const room = sink.write(Buffer.from(line, "utf8"));
        if (room !== undefined) await room;
      }
      written++;
      lastSeq = record.seq;
      if ((written & 0x3ff) === 0) progress.update(summary.records + written, sink.bytes);
    }
    summary.records += written;
    summary.streams.push({ name: stream.name, records: written, firstSeq: after + 1, lastSeq });
    progress.update(summary.records, sink.bytes);
  }
}

/**
 * A payload as one JSON field: `"json":<value>` when it is a JSON text on one line (it is then
 * written as it is, byte for byte), `"text":"…"` when it is other UTF-8, `"base64":"…"` otherwise.
 */
export function payloadField(payload: Uint8Array): string {
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const text = buf.toString("utf8");
  if (!Buffer.from(text, "utf8").equals(buf)) return `"base64":"${buf.toString("base64")}"`;
  if (text.length > 0 && !text.includes("\n") && !text.includes("\r") && isJson(text)) {
    return `"json":${text}`;
  }
  return `"text":${JSON.stringify(text)}`;
}

function isJson(text: string): boolean {
  const first = text.charCodeAt(0);
  // Numbers, strings, literals, objects and arrays; leading whitespace is not kept as-is.
  if (first === 0x20 || first === 0x09) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
