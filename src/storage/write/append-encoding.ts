/**
 * An append waiting in a stream's writer queue, and how it becomes bytes: seqs and a timestamp
 * assigned, records encoded into one pooled buffer (docs/format.md §4.2, §4.3), the last one
 * flagged COMMIT so the batch is all there or not at all. A single large payload is not copied:
 * the buffer holds its record header and the payload is written from where it is, after it.
 */
import { assert } from "../../assert.js";
import {
  INDEX_INTERVAL_BYTES,
  RECORD_FLAG_COMMIT,
  RECORD_HEADER_BYTES,
} from "../../format/constants.js";
import { encodeRecord, encodeRecordHead, type Payload } from "../../format/record.js";
import type { BufferPool } from "./buffer-pool.js";

export interface AppendResult {
  firstSeq: number;
  timestampMs: number;
}

export interface PendingAppend {
  payloads: readonly Payload[];
  sizes: readonly number[];
  attributes: Uint8Array | undefined;
  bytes: number;
  /** The encoded records, once seqs are assigned (undefined while waiting past the queue bound). */
  buf: Buffer | undefined;
  /** A large payload written from where it is, after `buf` (which then holds its header). */
  payloadAfter: Uint8Array | undefined;
  firstSeq: number;
  timestampMs: number;
  /** Offset in `buf` of the last record (the COMMIT record). */
  lastRecordAt: number;
  resolve: (result: AppendResult) => void;
  reject: (err: Error) => void;
}

/** A single payload at least this large is written from where it is, not copied. */
const IN_PLACE_PAYLOAD_BYTES_MIN = 64 * 1024;

/**
 * Encodes `pending` as records `seq`, `seq + 1`, … stamped `timestampMs`, into a buffer from
 * `buffers` (given back by the writer after the write). Returns the seq after the last record.
 */
export function encodeAppend(
  pending: PendingAppend,
  buffers: BufferPool,
  seq: number,
  timestampMs: number,
): number {
  const last = pending.payloads.length - 1;
  let next = seq;
  let at = 0;
  pending.firstSeq = seq;
  pending.timestampMs = timestampMs;
  const only = pending.payloads[0]!;
  if (last === 0 && typeof only !== "string" && only.byteLength >= IN_PLACE_PAYLOAD_BYTES_MIN) {
    const head = buffers.take(pending.bytes - only.byteLength);
    at = encodeRecordHead(
      head,
      0,
      next++,
      timestampMs,
      RECORD_FLAG_COMMIT,
      pending.attributes,
      only,
    );
    assert(
      at + only.byteLength === pending.bytes,
      "an append encodes to the bytes it was sized at",
    );
    pending.buf = head;
    pending.payloadAfter = only;
    pending.lastRecordAt = 0;
    return next;
  }
  const buf = buffers.take(pending.bytes);
  for (let j = 0; j <= last; j++) {
    pending.lastRecordAt = at;
    at = encodeRecord(
      buf,
      at,
      next++,
      timestampMs,
      j === last ? RECORD_FLAG_COMMIT : 0,
      j === last ? pending.attributes : undefined,
      pending.payloads[j]!,
      pending.sizes[j]!,
    );
  }
  assert(at === pending.bytes, "an append encodes to the bytes it was sized at");
  pending.buf = buf;
  pending.payloadAfter = undefined;
  return next;
}

/**
 * Records of an encoded batch written at file offset `position` that start an index interval
 * (docs/format.md §6; the next starts at or after `nextEntryOffset`), as flat
 * (seq, timestampMs, offset) triples. Walks record lengths only in buffers that cross a boundary.
 */
export function indexCandidates(
  batch: readonly PendingAppend[],
  position: number,
  nextEntryOffset: number,
): number[] {
  const indexed: number[] = [];
  let next = nextEntryOffset;
  let at = position;
  for (const pending of batch) {
    const buf = pending.buf!;
    if (at + pending.bytes > next) {
      let seq = pending.firstSeq;
      // Only headers are read: with `payloadAfter`, `buf` holds the one record's header.
      for (let off = 0; off < pending.bytes; seq++) {
        if (at + off >= next) {
          indexed.push(seq, pending.timestampMs, at + off);
          next = at + off + INDEX_INTERVAL_BYTES;
        }
        off += RECORD_HEADER_BYTES + buf.readUInt32LE(off + 4);
      }
    }
    at += pending.bytes;
  }
  return indexed;
}
