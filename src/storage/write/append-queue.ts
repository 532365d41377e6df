/**
 * The appends of one stream waiting for their commit, in order. An append is encoded (seqs and a
 * timestamp assigned, records written into a pooled buffer) as soon as it is queued, so encoding
 * overlaps the write in flight; past `queueBytesMax` of encoded bytes, later appends wait
 * unencoded and are encoded when their turn comes. Unencoded appends always follow encoded ones.
 *
 * Invariants, asserted whenever a batch leaves or the queue is renumbered: the counters are never
 * negative and are all zero when the queue is empty; when it is short enough to walk cheaply
 * (`CHECKED_LENGTH_MAX`), `queuedBytes` is the sum of the encoded appends' bytes,
 * `pendingBytes`/`pendingRecords` the sums over all of them, and the encoded appends hold
 * contiguous seqs.
 */
import { assert } from "../../assert.js";
import type { TailState } from "../recovery/tail-scan.js";
import { encodeAppend, type PendingAppend } from "./append-encoding.js";
import type { BufferPool } from "./buffer-pool.js";

/** Longest queue walked by the full invariant check (a producer that never waits can queue
 * hundreds of thousands of appends; walking them at every commit would be quadratic). */
const CHECKED_LENGTH_MAX = 64;

export class AppendQueue {
  private items: PendingAppend[] = [];
  /** Encoded bytes in the queue. */
  private queuedBytes = 0;
  /** Bytes and records of every queued append, encoded or not (for limits). */
  pendingBytes = 0;
  pendingRecords = 0;
  /** Appends at the end of the queue not encoded yet. */
  private unencoded = 0;
  /** Seq and timestamp the next encoded record gets (ahead of the tail by what is queued). */
  private nextSeq: number;
  private nextTimestampMs: number;

  constructor(
    private readonly buffers: BufferPool,
    private readonly clock: () => number,
    private readonly queueBytesMax: number,
    tail: TailState,
  ) {
    this.nextSeq = tail.lastSeq + 1;
    this.nextTimestampMs = tail.lastTimestampMs;
  }

  get length(): number {
    return this.items.length;
  }

  push(pending: PendingAppend): void {
    this.pendingBytes += pending.bytes;
    this.pendingRecords += pending.payloads.length;
    if (this.unencoded === 0 && this.queuedBytes < this.queueBytesMax) {
      this.encode(pending);
      this.queuedBytes += pending.bytes;
    } else {
      this.unencoded++;
    }
    this.items.push(pending);
  }

  /**
   * Encodes an append that bypasses the queue (log-appends.ts): it gets the next seqs, so the
   * queue must be empty.
   */
  encodeNow(pending: PendingAppend): void {
    assert(this.items.length === 0, "an append bypasses the queue only when it is empty");
    this.encode(pending);
  }

  /**
   * Takes the next batch for one write: at least one append, then as many as fit `bytesMax` and
   * `appendsMax`. Every append taken is encoded.
   */
  take(appendsMax: number, bytesMax: number): PendingAppend[] {
    const items = this.items;
    let bytes = items[0]!.bytes;
    let count = 1;
    while (count < items.length && count < appendsMax && bytes + items[count]!.bytes <= bytesMax) {
      bytes += items[count]!.bytes;
      count++;
    }
    const batch = items.splice(0, count);
    let records = 0;
    for (const pending of batch) {
      if (pending.buf === undefined) {
        this.unencoded--;
        this.encode(pending);
      } else {
        this.queuedBytes -= pending.bytes;
      }
      records += pending.payloads.length;
    }
    this.pendingBytes -= bytes;
    this.pendingRecords -= records;
    this.check();
    return batch;
  }

  /** After a failed commit the seqs it held are free again: renumber what is still queued. */
  renumber(tail: TailState): void {
    this.nextSeq = tail.lastSeq + 1;
    this.nextTimestampMs = tail.lastTimestampMs;
    this.queuedBytes = 0;
    for (const pending of this.items) {
      if (pending.buf === undefined) continue;
      this.buffers.give(pending.buf);
      this.encode(pending);
      this.queuedBytes += pending.bytes;
    }
    this.check();
  }

  /** Everything still queued (the stream failed or closes): the caller settles and rejects. */
  drain(): PendingAppend[] {
    const all = this.items;
    this.items = [];
    this.queuedBytes = 0;
    this.pendingBytes = 0;
    this.pendingRecords = 0;
    this.unencoded = 0;
    return all;
  }

  /** Assigns seqs and a timestamp and encodes the records (docs/format.md §4.2, §4.3). */
  private encode(pending: PendingAppend): void {
    const timestampMs = Math.max(this.clock(), this.nextTimestampMs);
    this.nextSeq = encodeAppend(pending, this.buffers, this.nextSeq, timestampMs);
    this.nextTimestampMs = timestampMs;
  }

  private check(): void {
    assert(
      this.pendingBytes >= 0 && this.pendingRecords >= 0 && this.queuedBytes >= 0,
      "queue counters are never negative",
    );
    assert(this.queuedBytes <= this.pendingBytes, "encoded bytes are part of the queued bytes");
    if (this.items.length === 0) {
      assert(
        this.pendingBytes + this.pendingRecords + this.unencoded === 0,
        "an empty queue counts nothing",
      );
    }
    if (this.items.length > CHECKED_LENGTH_MAX) return;
    let encoded = 0;
    let bytes = 0;
    let records = 0;
    let unencoded = 0;
    let seq = -1;
    for (const pending of this.items) {
      bytes += pending.bytes;
      records += pending.payloads.length;
      if (pending.buf === undefined) {
        unencoded++;
        continue;
      }
      assert(unencoded === 0, "unencoded appends follow the encoded ones");
      assert(seq === -1 || pending.firstSeq === seq, "queued appends hold contiguous seqs");
      seq = pending.firstSeq + pending.payloads.length;
      encoded += pending.bytes;
    }
    assert(this.queuedBytes === encoded, "queuedBytes is the sum of the encoded appends");
    assert(this.pendingBytes === bytes, "pendingBytes is the sum of the queued appends");
    assert(this.pendingRecords === records, "pendingRecords is the sum of the queued records");
    assert(this.unencoded === unencoded, "unencoded counts the appends not encoded yet");
  }
}
