/**
 * CRC-32 (ISO-HDLC, the zlib/gzip polynomial; docs/format.md §4.4) of `buf[start, end)`.
 *
 * Measured on this machine: for a 224-byte record body a
 * table-driven slice-by-8 in JavaScript takes 0.19 µs against 0.30 µs for `zlib.crc32` plus the
 * `subarray` it needs; zlib wins from about 400 bytes up (3.8 µs against 13.9 µs at 16 KiB). Small
 * records are the append hot path, so they take the JavaScript path.
 */
import { crc32 as zlibCrc32 } from "node:zlib";

const SMALL_BYTES_MAX = 384;
const TABLE = new Int32Array(256 * 8);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[i] = c;
}
for (let i = 0; i < 256; i++) {
  for (let t = 1; t < 8; t++) {
    const prev = TABLE[(t - 1) * 256 + i]!;
    TABLE[t * 256 + i] = (prev >>> 8) ^ TABLE[prev & 0xff]!;
  }
}

/** The CRC-32 of `buf[start, end)` followed by `more`, without joining them. */
export function crc32Then(buf: Uint8Array, start: number, end: number, more: Uint8Array): number {
  return zlibCrc32(more, crc32(buf, start, end));
}

export function crc32(buf: Uint8Array, start: number, end: number): number {
  if (end - start > SMALL_BYTES_MAX) return zlibCrc32(buf.subarray(start, end));
  const t = TABLE;
  let c = -1;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a = c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    c =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + buf[i + 4]!]! ^
      t[512 + buf[i + 5]!]! ^
      t[256 + buf[i + 6]!]! ^
      t[buf[i + 7]!]!;
  }
  for (; i < end; i++) c = t[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
