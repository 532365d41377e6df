/**
 * Lines of a text source, with their 1-based number and byte offset, for the line formats
 * (NDJSON, JSONL segments). A last line without its newline is returned with `terminated:
 * false` (a torn tail, when it is not a whole value); bytes that are not UTF-8 are kept as they
 * are and flagged, so the importer can report them instead of guessing.
 */
import type { ByteSource } from "../io/byte-source.js";

/** A longer line is damage (or not a line format); it is reported, not read into memory. */
export const LINE_BYTES_MAX = 16 * 1024 * 1024;

export interface Line {
  /** The bytes without the newline (and without a trailing CR). */
  bytes: Buffer;
  text: string;
  /** False when the bytes are not valid UTF-8. */
  utf8: boolean;
  number: number;
  byte: number;
  terminated: boolean;
  /** Set when the line was longer than LINE_BYTES_MAX: `bytes` is empty, the line skipped. */
  tooLong?: number;
}

export async function* readLines(source: ByteSource): AsyncGenerator<Line> {
  let number = 0;
  for (;;) {
    let newline = source.buf.indexOf(10, source.pos);
    while (newline === -1) {
      if (source.available > LINE_BYTES_MAX) {
        // Skip to the next newline without keeping the bytes.
        const byte = source.position;
        let skipped = 0;
        for (;;) {
          const nl = source.buf.indexOf(10, source.pos);
          if (nl !== -1) {
            skipped += nl - source.pos;
            source.pos = nl + 1;
            break;
          }
          skipped += source.available;
          source.pos = source.buf.byteLength;
          if (!(await source.fill(1))) break;
        }
        number++;
        yield {
          bytes: Buffer.alloc(0),
          text: "",
          utf8: true,
          number,
          byte,
          terminated: true,
          tooLong: skipped,
        };
        newline = source.buf.indexOf(10, source.pos);
        continue;
      }
      const had = source.available;
      if (!(await source.fill(had + 1))) {
        if (source.available === 0) return;
        number++;
        yield makeLine(source.buf.subarray(source.pos), number, source.position, false);
        source.pos = source.buf.byteLength;
        return;
      }
      newline = source.buf.indexOf(10, source.pos + had);
    }
    number++;
    const byte = source.position;
    const bytes = source.buf.subarray(source.pos, newline);
    source.pos = newline + 1;
    yield makeLine(bytes, number, byte, true);
  }
}

function makeLine(raw: Buffer, number: number, byte: number, terminated: boolean): Line {
  const bytes = raw.byteLength > 0 && raw[raw.byteLength - 1] === 13 ? raw.subarray(0, -1) : raw;
  const text = bytes.toString("utf8");
  const utf8 = !text.includes("\ufffd") || Buffer.from(text, "utf8").equals(bytes);
  return { bytes, text, utf8, number, byte, terminated };
}
