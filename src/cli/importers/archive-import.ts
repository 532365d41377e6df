/**
 * Importing a tidemark archive (docs/format.md §15): each stream is rebuilt exactly, with its
 * seqs, timestamps, attributes, metadata, limits, retention and consumer positions, and put in
 * place only once all its records are in and checked. A damaged or cut archive stops the import
 * at the damage: the streams before it are imported whole, the one it hit not at all, and the
 * report says where (byte offset) and why. Records are copied as they are, without re-encoding
 * (their CRC checked, their COMMIT flags kept).
 */
import {
  ARCHIVE_END_BYTES,
  ARCHIVE_END_MAGIC,
  ARCHIVE_HEADER_BYTES,
  ARCHIVE_STREAM_HEAD_BYTES,
  ARCHIVE_STREAM_MAGIC,
  ARCHIVE_VERSION,
  type ArchiveStream,
  decodeArchiveEnd,
  decodeArchiveHeader,
  decodeArchiveStream,
  decodeArchiveStreamHead,
} from "../../format/archive.js";
import { RECORD_HEADER_BYTES } from "../../format/constants.js";
import { DECODE_OK, decodeRecord, RecordView } from "../../format/record.js";
import type { Journal, StreamLimits } from "../../index.js";
import type { ByteSource } from "../io/byte-source.js";
import { cliError } from "../journal-access.js";
import type { Progress } from "../progress.js";
import type { ImportReport } from "./import-report.js";

export interface ArchiveImportOptions {
  /** Import the archive's only stream under this name. */
  rename?: string;
  sourceName: string;
  progress: Progress;
}

/** Stops the import at damage: reported by the caller with the position. */
class Damage extends Error {
  constructor(
    readonly byte: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

export async function importArchive(
  source: ByteSource,
  journal: Journal,
  options: ArchiveImportOptions,
  report: ImportReport,
): Promise<void> {
  try {
    await readArchive(source, journal, options, report);
  } catch (err) {
    if (!(err instanceof Damage)) throw err;
    report.problem({
      source: options.sourceName,
      byte: err.byte,
      kind: err.reason.includes("ends") ? "torn" : "garbled",
      reason: `${err.reason}; the import stopped there (streams before it were imported whole)`,
    });
  }
  report.bytes = source.position;
}

async function readArchive(
  source: ByteSource,
  journal: Journal,
  options: ArchiveImportOptions,
  report: ImportReport,
): Promise<void> {
  if (!(await source.fill(ARCHIVE_HEADER_BYTES))) {
    throw new Damage(0, "the input ends before the archive header");
  }
  const header = decodeArchiveHeader(
    source.buf.subarray(source.pos, source.pos + ARCHIVE_HEADER_BYTES),
  );
  if (!header.ok) throw new Damage(0, header.reason);
  if (header.value.version > ARCHIVE_VERSION) {
    throw cliError(
      "UNSUPPORTED_FORMAT",
      `the archive is version ${header.value.version}; this tidemark reads up to version ${ARCHIVE_VERSION}`,
    );
  }
  if (!(await source.fill(header.value.headerBytes)))
    throw new Damage(0, "the archive header ends early");
  source.pos += header.value.headerBytes;
  let streams = 0;
  let records = 0;
  for (;;) {
    const at = source.position;
    if (!(await source.fill(4)))
      throw new Damage(at, "the archive ends without its end (it was cut short)");
    const magic = source.buf.readUInt32LE(source.pos);
    if (magic === ARCHIVE_END_MAGIC) {
      const crcBefore = source.checksum();
      if (!(await source.fill(ARCHIVE_END_BYTES)))
        throw new Damage(at, "the archive ends inside its end");
      const end = decodeArchiveEnd(
        source.buf.subarray(source.pos, source.pos + ARCHIVE_END_BYTES),
        crcBefore,
      );
      if (!end.ok) throw new Damage(at, end.reason);
      if (end.value.streams !== streams || end.value.records !== records) {
        throw new Damage(
          at,
          `the archive end counts ${end.value.streams} streams and ${end.value.records} records; ${streams} and ${records} were read`,
        );
      }
      source.pos += ARCHIVE_END_BYTES;
      if (await source.fill(1))
        report.problem({
          source: options.sourceName,
          byte: source.position,
          kind: "not-imported",
          reason: "bytes after the archive end were ignored",
        });
      return;
    }
    if (magic !== ARCHIVE_STREAM_MAGIC)
      throw new Damage(at, "expected a stream header or the archive end");
    if (!(await source.fill(ARCHIVE_STREAM_HEAD_BYTES)))
      throw new Damage(at, "the archive ends inside a stream header");
    const head = decodeArchiveStreamHead(
      source.buf.subarray(source.pos, source.pos + ARCHIVE_STREAM_HEAD_BYTES),
    );
    if (!head.ok) throw new Damage(at, head.reason);
    const headerBytes = ARCHIVE_STREAM_HEAD_BYTES + head.value.bodyBytes + 4;
    if (!(await source.fill(headerBytes)))
      throw new Damage(at, "the archive ends inside a stream header");
    const decoded = decodeArchiveStream(source.buf.subarray(source.pos, source.pos + headerBytes));
    if (!decoded.ok) throw new Damage(at, decoded.reason);
    source.pos += headerBytes;
    streams++;
    if (options.rename !== undefined && streams > 1) {
      throw cliError(
        "INVALID_ARGUMENT",
        "--stream renames the only stream of an archive; this one holds more",
      );
    }
    records += await readStream(
      source,
      journal,
      decoded.value,
      head.value.records,
      options,
      report,
    );
  }
}

async function readStream(
  source: ByteSource,
  journal: Journal,
  header: ArchiveStream,
  count: number,
  options: ArchiveImportOptions,
  report: ImportReport,
): Promise<number> {
  const name = options.rename ?? header.name;
  if (journal.list().includes(name)) {
    throw cliError(
      "STREAM_EXISTS",
      `stream ${JSON.stringify(name)} already exists in ${journal.dir}; import into an empty journal, ` +
        "under another name (--stream, for a one-stream archive), or tidemark rm it first",
      { stream: name },
    );
  }
  const building = await journal.importStream(name, {
    createdAtMs: header.createdAtMs,
    meta: header.meta,
    ...(header.limits === undefined ? {} : { limits: header.limits as StreamLimits }),
    ...(header.retention === "acked" || header.retention === "limits"
      ? { retention: header.retention }
      : {}),
  });
  const view = new RecordView();
  let previous = header.firstSeq - 1;
  try {
    for (let i = 0; i < count; i++) {
      const at = source.position;
      if (source.available < RECORD_HEADER_BYTES && !(await source.fill(RECORD_HEADER_BYTES))) {
        throw new Damage(
          at,
          `the archive ends inside stream ${name} (record ${i + 1} of ${count})`,
        );
      }
      const need = RECORD_HEADER_BYTES + source.buf.readUInt32LE(source.pos + 4);
      if (source.available < need && !(await source.fill(need))) {
        throw new Damage(
          at,
          `the archive ends inside stream ${name} (record ${i + 1} of ${count})`,
        );
      }
      const { buf, pos } = source;
      if (decodeRecord(buf, pos, buf.byteLength, 0, view) !== DECODE_OK) {
        throw new Damage(at, `record ${i + 1} of stream ${name} is damaged (${view.reason})`);
      }
      if (view.seq <= previous || view.seq > header.lastSeq) {
        throw new Damage(
          at,
          `record ${i + 1} of stream ${name} has seq ${view.seq}, outside ${previous + 1}..${header.lastSeq}`,
        );
      }
      previous = view.seq;
      source.pos = view.end;
      const pending = building.addEncoded(buf.subarray(pos, view.end), view.seq, view.timestampMs);
      if (pending !== undefined) await pending;
      if ((i & 0x3ff) === 0) options.progress.update(source.position, source.position);
    }
  } catch (err) {
    await building.abort();
    throw err;
  }
  const { stream, summary } = await building.finish(header.lastSeq);
  for (const consumer of header.consumers ?? []) {
    const position = Math.min(consumer.position, header.lastSeq);
    if (position >= stream.info().firstSeq - 1 && position > 0)
      await stream.consumer(consumer.name).ack(position);
  }
  report.streams.push({
    stream: name,
    records: summary.records,
    firstSeq: summary.records === 0 ? null : summary.firstSeq,
    lastSeq: header.lastSeq,
    seqs: "kept",
    timestamps: "kept",
    lost: summary.lost,
    raised: 0,
    firstRaisedSeq: null,
  });
  return count;
}
