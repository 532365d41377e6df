/**
 * Archive codec (docs/format.md §15): tidemark's own export format. A header, then per stream a
 * stream header (JSON: name, seqs, metadata, limits, consumers) and its records, encoded exactly
 * as in a segment (§4.2, COMMIT set on each), then an end that counts everything and carries the
 * CRC-32 of every byte before it, so a cut or garbled archive is always detected.
 *
 *   archive        := archive-header stream-part* archive-end
 *   archive-header := "TMAR" version u16 headerBytes u16 createdAtMs u64 reserved[12] crc u32
 *   stream-part    := "TMAS" bodyBytes u32 records u64 body[bodyBytes] crc u32, then records
 *   archive-end    := "TMAE" streams u32 records u64 crc u32
 *
 * Decoding never throws on bad bytes: it returns a reason, and the caller reports it with the
 * byte position.
 */
import { crc32 as zlibCrc32 } from "node:zlib";
import { U64_SAFE_LIMIT } from "./constants.js";
import { readU64, writeU64 } from "./u64.js";

export const ARCHIVE_MAGIC = 0x52414d54; // "TMAR" read as u32 LE
export const ARCHIVE_STREAM_MAGIC = 0x53414d54; // "TMAS"
export const ARCHIVE_END_MAGIC = 0x45414d54; // "TMAE"
export const ARCHIVE_VERSION = 1;
export const ARCHIVE_HEADER_BYTES = 32;
/** Fixed part of a stream header: magic, bodyBytes, records (the body and a crc follow). */
export const ARCHIVE_STREAM_HEAD_BYTES = 16;
export const ARCHIVE_END_BYTES = 20;
/** Largest stream header body: metadata (≤ 64 KiB), limits, consumers. */
export const ARCHIVE_STREAM_BODY_BYTES_MAX = 1024 * 1024;

/** What a stream header says (its JSON body). Unknown fields are ignored (§15.4). */
export interface ArchiveStream {
  name: string;
  createdAtMs: number;
  /** The first seq the stream held when exported (or `after + 1`); no record is below it. */
  firstSeq: number;
  /** The stream's last seq: the next append after an import gets `lastSeq + 1`. */
  lastSeq: number;
  meta: Record<string, unknown>;
  limits?: Record<string, unknown>;
  retention?: string;
  consumers?: Array<{ name: string; position: number }>;
}

/** CRC-32 (ISO-HDLC, §4.4) continued from `previous`: the archive end's running checksum. */
export function crc32Continue(bytes: Uint8Array, previous: number): number {
  return zlibCrc32(bytes, previous);
}

export function encodeArchiveHeader(createdAtMs: number): Buffer {
  const buf = Buffer.alloc(ARCHIVE_HEADER_BYTES);
  buf.writeUInt32LE(ARCHIVE_MAGIC, 0);
  buf.writeUInt16LE(ARCHIVE_VERSION, 4);
  buf.writeUInt16LE(ARCHIVE_HEADER_BYTES, 6);
  writeU64(buf, createdAtMs, 8);
  buf.writeUInt32LE(zlibCrc32(buf.subarray(0, 28)), 28);
  return buf;
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

export function decodeArchiveHeader(
  buf: Buffer,
): Decoded<{ version: number; headerBytes: number; createdAtMs: number }> {
  if (buf.byteLength < ARCHIVE_HEADER_BYTES) return fail("the archive header is incomplete");
  if (buf.readUInt32LE(0) !== ARCHIVE_MAGIC) return fail("not a tidemark archive (no TMAR magic)");
  if (zlibCrc32(buf.subarray(0, 28)) !== buf.readUInt32LE(28)) {
    return fail("the archive header checksum does not match");
  }
  const version = buf.readUInt16LE(4);
  const headerBytes = buf.readUInt16LE(6);
  if (version < 1 || headerBytes < ARCHIVE_HEADER_BYTES)
    return fail("the archive header is invalid");
  const createdAtMs = readU64(buf, 8);
  return { ok: true, value: { version, headerBytes, createdAtMs } };
}

export function encodeArchiveStream(stream: ArchiveStream, records: number): Buffer {
  const body = Buffer.from(JSON.stringify(stream), "utf8");
  const buf = Buffer.alloc(ARCHIVE_STREAM_HEAD_BYTES + body.byteLength + 4);
  buf.writeUInt32LE(ARCHIVE_STREAM_MAGIC, 0);
  buf.writeUInt32LE(body.byteLength, 4);
  writeU64(buf, records, 8);
  body.copy(buf, ARCHIVE_STREAM_HEAD_BYTES);
  const end = ARCHIVE_STREAM_HEAD_BYTES + body.byteLength;
  buf.writeUInt32LE(zlibCrc32(buf.subarray(0, end)), end);
  return buf;
}

/** The fixed part of a stream header: how many body bytes and records follow. */
export function decodeArchiveStreamHead(
  buf: Buffer,
): Decoded<{ bodyBytes: number; records: number }> {
  if (buf.byteLength < ARCHIVE_STREAM_HEAD_BYTES) return fail("a stream header is incomplete");
  const bodyBytes = buf.readUInt32LE(4);
  if (bodyBytes > ARCHIVE_STREAM_BODY_BYTES_MAX) {
    return fail(
      `a stream header says its body is ${bodyBytes} bytes (at most ${ARCHIVE_STREAM_BODY_BYTES_MAX})`,
    );
  }
  const records = readU64(buf, 8);
  if (records > U64_SAFE_LIMIT) return fail("a stream header's record count is out of range");
  return { ok: true, value: { bodyBytes, records } };
}

/** A whole stream header (fixed part, body, crc): checks the crc and the body's fields. */
export function decodeArchiveStream(buf: Buffer): Decoded<ArchiveStream> {
  const head = decodeArchiveStreamHead(buf);
  if (!head.ok) return head;
  const end = ARCHIVE_STREAM_HEAD_BYTES + head.value.bodyBytes;
  if (buf.byteLength < end + 4) return fail("a stream header is incomplete");
  if (zlibCrc32(buf.subarray(0, end)) !== buf.readUInt32LE(end)) {
    return fail("a stream header checksum does not match");
  }
  let parsed: Partial<ArchiveStream>;
  try {
    parsed = JSON.parse(
      buf.toString("utf8", ARCHIVE_STREAM_HEAD_BYTES, end),
    ) as Partial<ArchiveStream>;
  } catch {
    return fail("a stream header body is not JSON");
  }
  const seq = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  if (
    typeof parsed !== "object" ||
    parsed === null ||
    typeof parsed.name !== "string" ||
    !seq(parsed.createdAtMs) ||
    !seq(parsed.firstSeq) ||
    (parsed.firstSeq as number) < 1 ||
    !seq(parsed.lastSeq) ||
    (parsed.lastSeq as number) < (parsed.firstSeq as number) - 1 ||
    typeof parsed.meta !== "object" ||
    parsed.meta === null ||
    Array.isArray(parsed.meta)
  ) {
    return fail("a stream header lacks name, createdAtMs, firstSeq, lastSeq or meta");
  }
  const stream: ArchiveStream = {
    name: parsed.name,
    createdAtMs: parsed.createdAtMs as number,
    firstSeq: parsed.firstSeq as number,
    lastSeq: parsed.lastSeq as number,
    meta: parsed.meta,
  };
  if (typeof parsed.limits === "object" && parsed.limits !== null) stream.limits = parsed.limits;
  if (typeof parsed.retention === "string") stream.retention = parsed.retention;
  if (Array.isArray(parsed.consumers)) {
    const consumers = parsed.consumers.filter(
      (c): c is { name: string; position: number } =>
        typeof c === "object" && c !== null && typeof c.name === "string" && seq(c.position),
    );
    if (consumers.length !== parsed.consumers.length)
      return fail("a stream header names a bad consumer");
    stream.consumers = consumers;
  }
  return { ok: true, value: stream };
}

/** The archive end; `crc` is the CRC-32 of every archive byte before the end's crc field. */
export function encodeArchiveEnd(streams: number, records: number, crcBefore: number): Buffer {
  const buf = Buffer.alloc(ARCHIVE_END_BYTES);
  buf.writeUInt32LE(ARCHIVE_END_MAGIC, 0);
  buf.writeUInt32LE(streams, 4);
  writeU64(buf, records, 8);
  buf.writeUInt32LE(zlibCrc32(buf.subarray(0, 16), crcBefore), 16);
  return buf;
}

export function decodeArchiveEnd(
  buf: Buffer,
  crcBefore: number,
): Decoded<{ streams: number; records: number }> {
  if (buf.byteLength < ARCHIVE_END_BYTES) return fail("the archive end is incomplete");
  if (zlibCrc32(buf.subarray(0, 16), crcBefore) !== buf.readUInt32LE(16)) {
    return fail("the archive checksum does not match: bytes were changed or lost");
  }
  return { ok: true, value: { streams: buf.readUInt32LE(4), records: readU64(buf, 8) } };
}

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}
