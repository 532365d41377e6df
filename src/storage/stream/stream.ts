/**
 * A stream: the public face of one append-only log in a journal. It validates every argument
 * (bad input gets a typed error and changes nothing), then hands appends to the stream's writer
 * and reads to the record reader.
 *
 * Seqs start at 1 and are contiguous. `after` names the last seq a reader has: `after: 0` reads
 * from seq 1; leaving `after` out reads from the oldest record still retained.
 */

import {
  BatchTooLargeError,
  ClosedError,
  InvalidArgumentError,
  ReadOnlyError,
  RecordTooLargeError,
} from "../../errors.js";
import {
  RECORD_ATTR_BYTES_LIMIT,
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
} from "../../format/constants.js";
import { type Payload, payloadByteLength } from "../../format/record.js";
import { checkKnownKeys } from "../../options-check.js";
import type { ResolvedOptions } from "../journal/journal-options.js";
import { type JournalRecord, type ReaderContext, RecordIterator } from "../read/record-reader.js";
import { cursorExpired } from "../read/segment-cursor.js";
import {
  limitsToJson,
  type Retention,
  resolveLimits,
  type StreamLimits,
  validateRetention,
} from "../retention/stream-limits.js";
import type { StreamWriter } from "../write/stream-writer.js";
import { Consumer } from "./consumer.js";
import type { ConsumerStore } from "./consumer-store.js";
import { optionalSeq, optionalTime, positiveInteger } from "./stream-arguments.js";
import type { StreamState } from "./stream-state.js";
import type {
  AppendOptions,
  AppendResult,
  FollowOptions,
  ReadOptions,
  StreamConfig,
  StreamInfo,
  TrimOptions,
} from "./stream-types.js";

const META_BYTES_MAX = 64 * 1024;
const READ_OPTION_KEYS = ["after", "limit", "fromTime", "toTime"] as const;
const FOLLOW_OPTION_KEYS = ["after", "signal"] as const;

/** What a stream needs from its journal. */
export interface StreamHost {
  options: ResolvedOptions;
  reader: ReaderContext;
  isClosed(): boolean;
  now(): number;
  /** Read-only journals: picks up what the writing process has committed since. */
  refresh?(state: StreamState): Promise<void>;
  /** Read-only journals: calls `wake` when the stream's files change (or on a poll timer). */
  watch?(state: StreamState, wake: () => void): () => void;
}

export type { JournalRecord } from "../read/record-reader.js";
export type {
  AppendOptions,
  AppendResult,
  FollowOptions,
  ReadOptions,
  StreamConfig,
  StreamInfo,
  TrimOptions,
} from "./stream-types.js";

export class Stream {
  /** @internal */
  constructor(
    private readonly host: StreamHost,
    private readonly state: StreamState,
    private readonly writer: StreamWriter | undefined,
    private readonly consumerStore: ConsumerStore,
  ) {}

  get name(): string {
    return this.state.name;
  }

  /** The stream's limits, as stored. */
  get limits(): StreamLimits {
    return limitsToJson(this.state.limits);
  }

  get retention(): Retention {
    return this.state.retention;
  }

  /** Seqs the stream knows it does not hold (cut out by repair, absent from an import), as
   * inclusive `[first, last]` ranges; reads step over them. */
  get lost(): ReadonlyArray<readonly [number, number]> {
    return this.state.lost;
  }

  /** Metadata stored with the stream for the layers above the journal (the server's). */
  get meta(): Readonly<Record<string, unknown>> {
    return this.state.meta;
  }

  /** Replaces the stream's limits and/or retention; stored before they apply. Data over the new
   * limits is released (discard 'old'). */
  async configure(config: StreamConfig): Promise<void> {
    const writer = this.writable();
    checkKnownKeys(config, ["limits", "retention"], "configure() options");
    const limits =
      config.limits === undefined
        ? this.state.limits
        : resolveLimits(config.limits, { stream: this.name });
    const retention =
      config.retention === undefined
        ? this.state.retention
        : validateRetention(config.retention, { stream: this.name });
    await writer.configure(limits, retention);
  }

  /** Releases every record with seq < before. Stored first, so a crash cannot undo it. */
  async trim(options: TrimOptions): Promise<void> {
    const writer = this.writable();
    if (typeof options !== "object" || options === null) {
      throw new InvalidArgumentError("trim takes { before }", { stream: this.name });
    }
    checkKnownKeys(options, ["before"], "trim() options");
    await writer.trim(options.before);
  }

  /** Replaces the stream's metadata (a JSON object, at most 64 KiB once serialized). */
  async setMeta(meta: Record<string, unknown>): Promise<void> {
    const writer = this.writable();
    if (typeof meta !== "object" || meta === null || Array.isArray(meta)) {
      throw new InvalidArgumentError("meta must be a plain object", { stream: this.name });
    }
    const bytes = Buffer.byteLength(JSON.stringify(meta));
    if (bytes > META_BYTES_MAX) {
      throw new InvalidArgumentError(
        `meta is ${bytes} bytes once serialized; the limit is ${META_BYTES_MAX}`,
        { stream: this.name },
      );
    }
    await writer.setMeta(structuredClone(meta));
  }

  /** The durable consumer called `name`, created (in memory until its first ack) if new. */
  consumer(name: string): Consumer {
    this.open();
    this.consumerStore.ensure(name);
    return new Consumer(this.consumerStore, name);
  }

  /** This stream's consumers, by name. */
  consumers(): Consumer[] {
    this.open();
    return this.consumerStore.names().map((name) => new Consumer(this.consumerStore, name));
  }

  /** Deletes a consumer, so it no longer holds data under retention 'acked'. */
  async removeConsumer(name: string): Promise<boolean> {
    this.writable();
    return this.consumerStore.remove(name);
  }

  /** Appends one record; resolves once it is committed (and synced, under 'always'). */
  async append(payload: Payload, options: AppendOptions = {}): Promise<AppendResult> {
    const writer = this.writable();
    const size = this.measure(payload, options.attributes, 0);
    const bytes = RECORD_HEADER_BYTES + size + (options.attributes?.byteLength ?? 0);
    const result = await writer.append([payload], [size], options.attributes, bytes);
    return { seq: result.firstSeq, timestamp: result.timestampMs };
  }

  /** Appends records as one atomic batch with contiguous seqs; resolves to their seqs. */
  async appendMany(payloads: readonly Payload[], options: AppendOptions = {}): Promise<number[]> {
    const writer = this.writable();
    if (!Array.isArray(payloads)) {
      throw new InvalidArgumentError("appendMany takes an array of payloads", {
        stream: this.name,
      });
    }
    if (payloads.length === 0) return [];
    const sizes = new Array<number>(payloads.length);
    let bytes = options.attributes?.byteLength ?? 0;
    for (let i = 0; i < payloads.length; i++) {
      const size = this.measure(
        payloads[i],
        i === payloads.length - 1 ? options.attributes : undefined,
        i,
      );
      sizes[i] = size;
      bytes += RECORD_HEADER_BYTES + size;
    }
    const room = this.host.options.segmentBytesMax - SEGMENT_HEADER_BYTES;
    if (bytes > room) {
      throw new BatchTooLargeError(
        `a batch of ${payloads.length} records takes ${bytes} bytes, more than a segment holds ` +
          `(${room}); split it or raise segmentBytesMax`,
        { stream: this.name, bytes },
      );
    }
    const result = await writer.append(payloads, sizes, options.attributes, bytes);
    const seqs = new Array<number>(payloads.length);
    for (let i = 0; i < seqs.length; i++) seqs[i] = result.firstSeq + i;
    return seqs;
  }

  /** Reads committed records in seq order. Memory stays bounded however much is read. */
  read(options: ReadOptions = {}): AsyncIterableIterator<JournalRecord> {
    return this.reader(options, false);
  }

  /**
   * @internal Reads like `read`, in batches (`nextBatch`), into one reused buffer: the records of
   * a batch are valid only until the next call. For readers that copy or send each batch before
   * asking for the next (the server's catch-up responses), it makes no garbage per chunk.
   */
  readBatches(options: ReadOptions = {}): Pick<RecordIterator, "nextBatch" | "return"> {
    return this.reader(options, true);
  }

  private reader(options: ReadOptions, reuseBuffers: boolean): RecordIterator {
    this.open();
    checkKnownKeys(options, READ_OPTION_KEYS, "read() options");
    const after = optionalSeq("after", options.after);
    const limit =
      options.limit === undefined
        ? Number.POSITIVE_INFINITY
        : positiveInteger("limit", options.limit);
    const fromTimeMs = optionalTime("fromTime", options.fromTime);
    const toTimeMs = optionalTime("toTime", options.toTime);
    return new RecordIterator(
      this.host.reader,
      this.state,
      async () => {
        await this.host.refresh?.(this.state);
        const start = this.checkAfter(after);
        this.state.touchedAtMs = this.host.now();
        return { after: start, lastSeq: this.state.lastSeq, limit, fromTimeMs, toTimeMs };
      },
      reuseBuffers,
    );
  }

  /**
   * Delivers every record after `after` exactly once, in order: first what is on disk, then
   * each record as it is committed. Ends when the signal aborts or the journal closes.
   */
  follow(options: FollowOptions = {}): AsyncIterableIterator<JournalRecord> {
    this.open();
    checkKnownKeys(options, FOLLOW_OPTION_KEYS, "follow() options");
    const after = optionalSeq("after", options.after);
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new InvalidArgumentError("signal must be an AbortSignal", { stream: this.name });
    }
    return this.followFrom(after, options.signal);
  }

  info(): StreamInfo {
    const { firstSeq, lastSeq } = this.state;
    return {
      name: this.state.name,
      firstSeq,
      lastSeq,
      records: this.state.records,
      bytes: this.state.segments.totalBytes(),
      createdAt: this.state.createdAtMs,
      lastAppendAt: lastSeq >= firstSeq ? this.state.tail.lastTimestampMs : null,
    };
  }

  private async *followFrom(
    after: number | undefined,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<JournalRecord> {
    await this.host.refresh?.(this.state);
    let cursor = this.checkAfter(after);
    while (!signal?.aborted && !this.state.ended && !this.host.isClosed()) {
      // Overtaken by retention while it ran: say so, never skip.
      if (cursor < this.state.firstSeq - 1) throw cursorExpired(this.state, cursor + 1);
      const lastSeq = this.state.lastSeq;
      if (cursor < lastSeq) {
        const request = {
          after: cursor,
          lastSeq,
          limit: Number.POSITIVE_INFINITY,
          fromTimeMs: undefined,
          toTimeMs: undefined,
        };
        const records = new RecordIterator(this.host.reader, this.state, async () => request);
        for await (const record of records) {
          yield record;
          cursor = record.seq;
          if (signal?.aborted) return;
        }
        // Read to the end: seqs not yielded up to there were known lost and stepped over.
        cursor = Math.max(cursor, lastSeq);
        continue;
      }
      await this.nextChange(signal);
      await this.host.refresh?.(this.state);
    }
  }

  /** Waits for a commit, an abort, the end of the stream, or (read-only) a file change. */
  private nextChange(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      let unwatch: (() => void) | undefined;
      const wake = () => {
        cancel();
        unwatch?.();
        signal?.removeEventListener("abort", wake);
        resolve();
      };
      const cancel = this.state.onChange(wake);
      unwatch = this.host.watch?.(this.state, wake);
      signal?.addEventListener("abort", wake, { once: true });
      if (signal?.aborted || this.state.ended || this.host.isClosed()) wake();
    });
  }

  private checkAfter(after: number | undefined): number {
    const { firstSeq, lastSeq } = this.state;
    if (after === undefined) return firstSeq - 1;
    if (after < firstSeq - 1) throw cursorExpired(this.state, after + 1);
    if (after > lastSeq) {
      throw new InvalidArgumentError(
        `after ${after} is beyond the last seq ${lastSeq} of stream ${JSON.stringify(this.name)}`,
        { stream: this.name, after, lastSeq },
      );
    }
    return after;
  }

  private open(): void {
    if (this.host.isClosed() || this.state.ended) {
      throw new ClosedError(
        this.state.deleted ? `stream ${JSON.stringify(this.name)} was deleted` : undefined,
        { stream: this.name },
      );
    }
  }

  private writable(): StreamWriter {
    this.open();
    if (this.writer === undefined) throw new ReadOnlyError(undefined, { stream: this.name });
    return this.writer;
  }

  /** Validates one payload (and the attributes riding on it) and returns its byte length. */
  private measure(payload: unknown, attributes: Uint8Array | undefined, index: number): number {
    if (typeof payload !== "string" && !(payload instanceof Uint8Array)) {
      throw new InvalidArgumentError(
        `payload ${index} must be a Uint8Array or a string, got ${payload === null ? "null" : typeof payload}`,
        { stream: this.name },
      );
    }
    if (attributes !== undefined && !(attributes instanceof Uint8Array)) {
      throw new InvalidArgumentError("attributes must be a Uint8Array", { stream: this.name });
    }
    const attrBytes = attributes?.byteLength ?? 0;
    if (attrBytes > RECORD_ATTR_BYTES_LIMIT) {
      throw new RecordTooLargeError(
        `attributes are ${attrBytes} bytes; the limit is ${RECORD_ATTR_BYTES_LIMIT}`,
        {
          stream: this.name,
        },
      );
    }
    const size = payloadByteLength(payload);
    const max = this.host.options.recordBytesMax;
    if (size + attrBytes > max) {
      throw new RecordTooLargeError(
        `payload ${index} is ${size + attrBytes} bytes; the journal's recordBytesMax is ${max}`,
        { stream: this.name, bytes: size + attrBytes },
      );
    }
    return size;
  }
}
