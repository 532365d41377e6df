/**
 * Consumer position file codec (docs/format.md §11). A header naming the consumer, then one
 * 24-byte entry per acknowledgement; the position is the last entry that checks out, so a torn
 * last entry leaves the previous position, never a garbled one.
 *
 *   header := "TMCN" version u16 nameBytes u16 name[nameBytes] crc u32 (of the bytes before)
 *   entry  := seq u64, ackedAtMs u64, reserved u32 = 0, crc u32 (of the 20 bytes before)
 */

import { FORMAT_VERSION } from "./constants.js";
import { crc32 } from "./crc32.js";
import { readU64, writeU64 } from "./u64.js";

export const CONSUMER_MAGIC = 0x4e434d54; // "TMCN"
export const CONSUMER_ENTRY_BYTES = 24;

export interface ConsumerEntry {
  seq: number;
  ackedAtMs: number;
}

export function encodeConsumerHeader(name: string): Buffer {
  const nameBytes = Buffer.byteLength(name, "utf8");
  const buf = Buffer.alloc(8 + nameBytes + 4);
  buf.writeUInt32LE(CONSUMER_MAGIC, 0);
  buf.writeUInt16LE(FORMAT_VERSION, 4);
  buf.writeUInt16LE(nameBytes, 6);
  buf.write(name, 8, "utf8");
  buf.writeUInt32LE(crc32(buf, 0, 8 + nameBytes), 8 + nameBytes);
  return buf;
}

export function encodeConsumerEntry(entry: ConsumerEntry): Buffer {
  const buf = Buffer.alloc(CONSUMER_ENTRY_BYTES);
  writeU64(buf, entry.seq, 0);
  writeU64(buf, entry.ackedAtMs, 8);
  buf.writeUInt32LE(crc32(buf, 0, 20), 20);
  return buf;
}

export interface DecodedConsumerFile {
  name: string;
  /** The last valid entry, or undefined when there is none. */
  last: ConsumerEntry | undefined;
  /** Bytes of the header and the valid entries: anything after is a torn tail. */
  validBytes: number;
  entries: number;
}

/** Decodes a whole consumer file; undefined when its header is damaged. */
export function decodeConsumerFile(buf: Buffer): DecodedConsumerFile | undefined {
  if (buf.byteLength < 12 || buf.readUInt32LE(0) !== CONSUMER_MAGIC || buf.readUInt16LE(4) < 1)
    return undefined;
  const nameBytes = buf.readUInt16LE(6);
  const headerBytes = 8 + nameBytes + 4;
  if (buf.byteLength < headerBytes) return undefined;
  if (crc32(buf, 0, 8 + nameBytes) !== buf.readUInt32LE(8 + nameBytes)) return undefined;
  const name = buf.toString("utf8", 8, 8 + nameBytes);
  let last: ConsumerEntry | undefined;
  let at = headerBytes;
  let entries = 0;
  for (; at + CONSUMER_ENTRY_BYTES <= buf.byteLength; at += CONSUMER_ENTRY_BYTES) {
    if (crc32(buf, at, at + 20) !== buf.readUInt32LE(at + 20) || buf.readUInt32LE(at + 16) !== 0)
      break;
    const seq = readU64(buf, at);
    const ackedAtMs = readU64(buf, at + 8);
    if (seq < 0 || ackedAtMs < 0 || (last !== undefined && seq < last.seq)) break;
    last = { seq, ackedAtMs };
    entries++;
  }
  return { name, last, validBytes: at, entries };
}
