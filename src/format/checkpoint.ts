/**
 * Checkpoint codec (docs/format.md §7): a 56-byte hint naming a point up to which the active
 * segment is known valid, so recovery scans only what came after it.
 *
 *   0 magic "TMCK" | 4 version u16 | 6 reserved u16 | 8 segmentBaseSeq u64
 *   16 lastRecordOffset u64 | 24 endOffset u64 | 32 lastSeq u64 | 40 lastTimestampMs u64
 *   48 lastRecordCrc u32 | 52 crc u32 of bytes 0..51
 */
import { crc32 } from "node:zlib";
import { CHECKPOINT_BYTES, CHECKPOINT_MAGIC, FORMAT_VERSION } from "./constants.js";
import { readU64, writeU64 } from "./u64.js";

export interface Checkpoint {
  segmentBaseSeq: number;
  /** Where the last covered record starts; 0 when the segment holds no record yet. */
  lastRecordOffset: number;
  endOffset: number;
  /** Seq of the last covered record (base seq − 1 when there is none). */
  lastSeq: number;
  lastTimestampMs: number;
  lastRecordCrc: number;
}

export function encodeCheckpoint(checkpoint: Checkpoint): Buffer {
  const buf = Buffer.alloc(CHECKPOINT_BYTES);
  buf.writeUInt32LE(CHECKPOINT_MAGIC, 0);
  buf.writeUInt16LE(FORMAT_VERSION, 4);
  writeU64(buf, checkpoint.segmentBaseSeq, 8);
  writeU64(buf, checkpoint.lastRecordOffset, 16);
  writeU64(buf, checkpoint.endOffset, 24);
  writeU64(buf, checkpoint.lastSeq, 32);
  writeU64(buf, checkpoint.lastTimestampMs, 40);
  buf.writeUInt32LE(checkpoint.lastRecordCrc >>> 0, 48);
  buf.writeUInt32LE(crc32(buf.subarray(0, 52)), 52);
  return buf;
}

export function decodeCheckpoint(buf: Buffer): Checkpoint | undefined {
  if (buf.byteLength !== CHECKPOINT_BYTES) return undefined;
  if (buf.readUInt32LE(0) !== CHECKPOINT_MAGIC) return undefined;
  if (crc32(buf.subarray(0, 52)) !== buf.readUInt32LE(52)) return undefined;
  if (buf.readUInt16LE(4) < 1) return undefined;
  const checkpoint: Checkpoint = {
    segmentBaseSeq: readU64(buf, 8),
    lastRecordOffset: readU64(buf, 16),
    endOffset: readU64(buf, 24),
    lastSeq: readU64(buf, 32),
    lastTimestampMs: readU64(buf, 40),
    lastRecordCrc: buf.readUInt32LE(48),
  };
  const fields = [
    checkpoint.segmentBaseSeq,
    checkpoint.lastRecordOffset,
    checkpoint.endOffset,
    checkpoint.lastSeq,
    checkpoint.lastTimestampMs,
  ];
  if (fields.some((value) => value < 0) || checkpoint.segmentBaseSeq < 1) return undefined;
  return checkpoint;
}
