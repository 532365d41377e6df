/**
 * `--format seq-len`: binary files of records `[seq: u64 big-endian][length: u32 big-endian]
 * [data]`, as a terminal bridge's per-session ring-buffer files (`<session>.buf`) hold them. A
 * directory imports one stream per file, named after the file (without `.buf`); one file goes
 * to `--stream` or its own name. The data is the payload; seqs are kept, and a gap (a writer
 * that dropped data when it was full) is recorded as lost; a source whose seqs start at 0 is
 * shifted by one (tidemark seqs start at 1), and the report says so. The format has no
 * timestamps: every record gets the file's modification time.
 *
 * The format has no checksum, so damage is found only where it breaks the framing: a record cut
 * off at the end of the file (a torn tail), a length past the end or beyond 64 MiB, or a seq that
 * does not increase. From there on the file cannot be trusted: the rest is reported, with its
 * byte offset and size, and not imported.
 */
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import type { Journal } from "../../index.js";
import { ByteSource } from "../io/byte-source.js";
import type { Progress } from "../progress.js";
import type { ImportReport } from "./import-report.js";
import { RecordTarget } from "./record-target.js";

const HEADER_BYTES = 12;
/** A longer record is taken for garbage: the writer's own cap was 100 MB per session file. */
const DATA_BYTES_MAX = 64 * 1024 * 1024;

export interface SeqLenOptions {
  stream?: string;
  append: boolean;
  progress: Progress;
  /** Bytes of files already imported (for the progress bar). */
  offset: number;
}

export async function importSeqLenFile(
  path: string,
  journal: Journal,
  options: SeqLenOptions,
  report: ImportReport,
): Promise<number> {
  const name = options.stream ?? basename(path).replace(/\.buf$/, "");
  const { mtimeMs, size } = await stat(path);
  const timestamp = Math.floor(mtimeMs);
  const source = ByteSource.open(path);
  let target: RecordTarget | undefined;
  let shift = 0;
  let previous = -1;
  try {
    for (;;) {
      const at = source.position;
      if (!(await source.fill(HEADER_BYTES))) {
        if (source.available > 0) {
          report.problem({
            source: path,
            byte: at,
            bytes: source.available,
            kind: "torn",
            reason: `the last record is cut off inside its 12-byte header; ${source.available} bytes not imported`,
          });
        }
        break;
      }
      const seqBig = source.buf.readBigUInt64BE(source.pos);
      const length = source.buf.readUInt32BE(source.pos + 8);
      const seq = Number(seqBig);
      const rest = size - at;
      const broken =
        seqBig > BigInt(Number.MAX_SAFE_INTEGER - 1)
          ? `seq ${seqBig} is out of range`
          : length > DATA_BYTES_MAX
            ? `a length of ${length} bytes (more than ${DATA_BYTES_MAX})`
            : seq <= previous
              ? `seq ${seq} after seq ${previous}`
              : undefined;
      if (broken !== undefined) {
        report.problem({
          source: path,
          byte: at,
          bytes: rest,
          kind: "garbled",
          reason: `the framing breaks here (${broken}); the rest of the file, ${rest} bytes, is not imported`,
        });
        break;
      }
      if (!(await source.fill(HEADER_BYTES + length))) {
        report.problem({
          source: path,
          byte: at,
          bytes: source.available,
          kind: "torn",
          reason: `the last record (seq ${seq}, ${length} bytes) is cut off after ${source.available - HEADER_BYTES} bytes; not imported`,
        });
        break;
      }
      if (previous === -1 && seq === 0) shift = 1;
      previous = seq;
      const data = Buffer.from(
        source.buf.subarray(source.pos + HEADER_BYTES, source.pos + HEADER_BYTES + length),
      );
      source.pos += HEADER_BYTES + length;
      target ??= await RecordTarget.open(journal, name, {
        append: options.append,
        ownSeqs: true,
        timestamps: "the file's modification time (the format has none)",
        createdAtMs: timestamp,
      });
      const pending = target.add(seq + shift, timestamp, data);
      if (pending !== undefined) await pending;
      options.progress.update(options.offset + source.position, options.offset + source.position);
    }
    if (target !== undefined) {
      const summary = await target.finish();
      if (shift === 1) summary.note = "the source's seqs start at 0: each was shifted up by one";
      report.streams.push(summary);
    } else if (size === 0) {
      report.problem({
        source: path,
        byte: 0,
        kind: "not-imported",
        reason: "the file is empty: no stream made",
      });
    }
  } catch (err) {
    await target?.abort();
    throw err;
  } finally {
    await source.close();
  }
  return size;
}
