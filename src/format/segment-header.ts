/**
 * Segment header codec (docs/format.md §4.1): 32 bytes at the start of every segment file.
 *
 *   0 magic "TMSG" | 4 version u16 | 6 headerBytes u16 | 8 baseSeq u64 | 16 createdAtMs u64
 *   24 streamTag[4] | 28 crc u32 of bytes 0..27
 */
import { crc32 } from "node:zlib";
import { assert } from "../assert.js";
import {
  FORMAT_VERSION,
  SEGMENT_HEADER_BYTES,
  SEGMENT_HEADER_CRC_OFFSET,
  SEGMENT_MAGIC,
} from "./constants.js";
import { readU64, writeU64 } from "./u64.js";

export interface SegmentHeader {
  version: number;
  headerBytes: number;
  baseSeq: number;
  createdAtMs: number;
  /** First 4 bytes of SHA-256(stream name), as a u32 read little-endian. */
  streamTag: number;
}

export function encodeSegmentHeader(
  baseSeq: number,
  createdAtMs: number,
  streamTag: number,
): Buffer {
  assert(Number.isSafeInteger(baseSeq) && baseSeq >= 1, "base seq is positive");
  const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
  buf.writeUInt32LE(SEGMENT_MAGIC, 0);
  buf.writeUInt16LE(FORMAT_VERSION, 4);
  buf.writeUInt16LE(SEGMENT_HEADER_BYTES, 6);
  writeU64(buf, baseSeq, 8);
  writeU64(buf, createdAtMs, 16);
  buf.writeUInt32LE(streamTag >>> 0, 24);
  buf.writeUInt32LE(crc32(buf.subarray(0, SEGMENT_HEADER_CRC_OFFSET)), SEGMENT_HEADER_CRC_OFFSET);
  return buf;
}

/** Returns the header, or a reason it cannot be used. Never throws on bad bytes. */
export function decodeSegmentHeader(buf: Buffer): SegmentHeader | string {
  if (buf.byteLength < SEGMENT_HEADER_BYTES) return "segment header is incomplete";
  if (buf.readUInt32LE(0) !== SEGMENT_MAGIC) return "segment magic is wrong";
  const stored = buf.readUInt32LE(SEGMENT_HEADER_CRC_OFFSET);
  if (crc32(buf.subarray(0, SEGMENT_HEADER_CRC_OFFSET)) !== stored) {
    return "segment header checksum mismatch";
  }
  const version = buf.readUInt16LE(4);
  const headerBytes = buf.readUInt16LE(6);
  const baseSeq = readU64(buf, 8);
  const createdAtMs = readU64(buf, 16);
  if (version < 1) return `segment version ${version} is invalid`;
  if (headerBytes < SEGMENT_HEADER_BYTES) return `segment header size ${headerBytes} is invalid`;
  if (baseSeq < 1 || createdAtMs < 0) return "segment header fields are out of range";
  return { version, headerBytes, baseSeq, createdAtMs, streamTag: buf.readUInt32LE(24) };
}
