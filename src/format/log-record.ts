/**
 * Commit log codec (docs/format.md §14): the 32-byte header of a log file and the 32-byte header
 * of each log record. A record's body is the segment records it carries (§4.2), which hold their
 * own CRCs, so the record's CRC covers its header only. Encode and decode sit side by side and
 * are fuzzed together (test/format/log-record.test.ts). Decoding never throws on bad bytes.
 *
 *   log-header  0 magic "TMLG" | 4 version u16 | 6 headerBytes u16 | 8 fileSeq u64
 *               16 createdAtMs u64 | 24 reserved u32 | 28 crc u32 of bytes 0..27
 *   log-record  0 crc u32 of bytes 4..31 | 4 bodyBytes u32 | 8 streamId[8]
 *               16 segmentBaseSeq u64 | 24 segmentOffset u32 | 28 kind u8 | 29 reserved[3]
 */
import { assert } from "../assert.js";
import {
  FORMAT_VERSION,
  LOG_HEADER_BYTES,
  LOG_MAGIC,
  LOG_RECORD_HEADER_BYTES,
  LOG_RECORD_KIND_APPEND,
  RECORD_HEADER_BYTES,
  STREAM_ID_BYTES,
} from "./constants.js";
import { crc32 } from "./crc32.js";
import { readU64, writeU64 } from "./u64.js";

export interface LogHeader {
  fileSeq: number;
  createdAtMs: number;
}

export function encodeLogHeader(fileSeq: number, createdAtMs: number): Buffer {
  assert(Number.isSafeInteger(fileSeq) && fileSeq >= 1, "log file seqs are positive");
  const buf = Buffer.alloc(LOG_HEADER_BYTES);
  buf.writeUInt32LE(LOG_MAGIC, 0);
  buf.writeUInt16LE(FORMAT_VERSION, 4);
  buf.writeUInt16LE(LOG_HEADER_BYTES, 6);
  writeU64(buf, fileSeq, 8);
  writeU64(buf, createdAtMs, 16);
  buf.writeUInt32LE(crc32(buf, 0, 28) >>> 0, 28);
  return buf;
}

/** The header, or why it cannot be used. */
export function decodeLogHeader(buf: Buffer): LogHeader | string {
  if (buf.byteLength < LOG_HEADER_BYTES) return "log header is incomplete";
  if (buf.readUInt32LE(0) !== LOG_MAGIC) return "log magic is wrong";
  if (crc32(buf, 0, 28) >>> 0 !== buf.readUInt32LE(28)) return "log header checksum mismatch";
  const version = buf.readUInt16LE(4);
  if (version < 1 || version > FORMAT_VERSION) return `log version ${version} is not known`;
  if (buf.readUInt16LE(6) !== LOG_HEADER_BYTES) return "log header size is invalid";
  const fileSeq = readU64(buf, 8);
  const createdAtMs = readU64(buf, 16);
  if (fileSeq < 1 || createdAtMs < 0) return "log header fields are out of range";
  return { fileSeq, createdAtMs };
}

export interface LogRecordHeader {
  bodyBytes: number;
  /** The stream's id as 16 hex digits (docs/format.md §3). */
  streamId: string;
  segmentBaseSeq: number;
  segmentOffset: number;
}

/** Writes a record header into `target` at `offset` (the body follows it, written by the caller). */
export function encodeLogRecordHeader(
  target: Buffer,
  offset: number,
  record: LogRecordHeader,
): void {
  assert(record.bodyBytes >= RECORD_HEADER_BYTES, "a log record carries at least one record");
  assert(/^[0-9a-f]{16}$/.test(record.streamId), "a stream id is 16 hex digits");
  target.writeUInt32LE(record.bodyBytes, offset + 4);
  target.write(record.streamId, offset + 8, STREAM_ID_BYTES, "hex");
  writeU64(target, record.segmentBaseSeq, offset + 16);
  target.writeUInt32LE(record.segmentOffset, offset + 24);
  target[offset + 28] = LOG_RECORD_KIND_APPEND;
  target[offset + 29] = 0;
  target[offset + 30] = 0;
  target[offset + 31] = 0;
  target.writeUInt32LE(crc32(target, offset + 4, offset + LOG_RECORD_HEADER_BYTES) >>> 0, offset);
}

/**
 * The record header at `offset` of `buf[0, end)`, or why there is none there: "incomplete" when
 * the bytes end inside it, any other string when it is not a valid header. The body is checked
 * by decoding its records (the caller does).
 */
export function decodeLogRecordHeader(
  buf: Buffer,
  offset: number,
  end: number,
): LogRecordHeader | string {
  if (end - offset < LOG_RECORD_HEADER_BYTES) return "incomplete";
  if (crc32(buf, offset + 4, offset + LOG_RECORD_HEADER_BYTES) >>> 0 !== buf.readUInt32LE(offset)) {
    return "log record checksum mismatch";
  }
  if (buf[offset + 28] !== LOG_RECORD_KIND_APPEND)
    return `log record kind ${buf[offset + 28]} is not known`;
  if (buf[offset + 29] !== 0 || buf[offset + 30] !== 0 || buf[offset + 31] !== 0) {
    return "log record reserved bytes are set";
  }
  const bodyBytes = buf.readUInt32LE(offset + 4);
  const segmentBaseSeq = readU64(buf, offset + 16);
  if (bodyBytes < RECORD_HEADER_BYTES || segmentBaseSeq < 1)
    return "log record fields are out of range";
  return {
    bodyBytes,
    streamId: buf.toString("hex", offset + 8, offset + 8 + STREAM_ID_BYTES),
    segmentBaseSeq,
    segmentOffset: buf.readUInt32LE(offset + 24),
  };
}
