/**
 * Sparse index codec (docs/format.md §6). The index is a hint: an entry is used only when its
 * CRC matches and the record at its offset carries its seq.
 *
 *   index-header (16) := "TMIX" version u16 reserved u16 baseSeq u64
 *   index-entry  (24) := seq u64, timestampMs u64, offset u32, crc u32 of the 20 bytes before
 */
import { crc32 } from "node:zlib";
import { FORMAT_VERSION, INDEX_ENTRY_BYTES, INDEX_HEADER_BYTES, INDEX_MAGIC } from "./constants.js";
import { readU64, writeU64 } from "./u64.js";

export interface IndexEntry {
  seq: number;
  timestampMs: number;
  offset: number;
}

export function encodeIndexHeader(baseSeq: number): Buffer {
  const buf = Buffer.alloc(INDEX_HEADER_BYTES);
  buf.writeUInt32LE(INDEX_MAGIC, 0);
  buf.writeUInt16LE(FORMAT_VERSION, 4);
  writeU64(buf, baseSeq, 8);
  return buf;
}

/** The base seq of a valid index header, or undefined. */
export function decodeIndexHeader(buf: Buffer): number | undefined {
  if (buf.byteLength < INDEX_HEADER_BYTES || buf.readUInt32LE(0) !== INDEX_MAGIC) return undefined;
  if (buf.readUInt16LE(4) < 1) return undefined;
  const baseSeq = readU64(buf, 8);
  return baseSeq >= 1 ? baseSeq : undefined;
}

export function encodeIndexEntries(entries: readonly IndexEntry[]): Buffer {
  const buf = Buffer.allocUnsafe(entries.length * INDEX_ENTRY_BYTES);
  let at = 0;
  for (const entry of entries) {
    writeU64(buf, entry.seq, at);
    writeU64(buf, entry.timestampMs, at + 8);
    buf.writeUInt32LE(entry.offset, at + 16);
    buf.writeUInt32LE(crc32(buf.subarray(at, at + 20)), at + 20);
    at += INDEX_ENTRY_BYTES;
  }
  return buf;
}

/** Decodes entries up to the first damaged one (a torn or garbled tail ends the list). */
export function decodeIndexEntries(buf: Buffer): IndexEntry[] {
  const entries: IndexEntry[] = [];
  for (let at = 0; at + INDEX_ENTRY_BYTES <= buf.byteLength; at += INDEX_ENTRY_BYTES) {
    if (crc32(buf.subarray(at, at + 20)) !== buf.readUInt32LE(at + 20)) break;
    const seq = readU64(buf, at);
    const timestampMs = readU64(buf, at + 8);
    if (seq < 1 || timestampMs < 0) break;
    entries.push({ seq, timestampMs, offset: buf.readUInt32LE(at + 16) });
  }
  return entries;
}
