/**
 * One Durable Streams stream in JetStream: its records on subject `<prefix>.d.<path>` of the
 * data stream, its metadata on `<prefix>.m.<path>` (subjects.ts).
 *
 * Positions: record `i` of the JetStream message with sequence `s` is at `s * 65536 + i`, so a
 * position names its message and no index is needed; they increase but have gaps (the data
 * stream's sequence is shared by every Durable Streams stream). A stream's seqs, as the server
 * sees them, are positions minus its base (a fork's offset), as in the journal.
 *
 * Appends are compare-and-set on the subject's last sequence
 * (`Nats-Expected-Last-Subject-Sequence`), one publish in flight per stream: appends that arrive
 * meanwhile go out together in the next publish (group commit, one message of several records),
 * so a `sync_interval: always` server's fsync is shared. A publish that loses the compare-and-set
 * (another process appended) fails every append queued behind it with STORE_CONFLICT: they were
 * validated against a state that is no longer the latest. A publish that times out is retried
 * with the same `Nats-Msg-Id`, so JetStream stores it once.
 */
import { randomUUID } from "node:crypto";
import type { StoredMsg } from "@nats-io/jetstream";
import { headers as natsHeaders, type Subscription } from "@nats-io/transport-node";
import { TidemarkError } from "../errors.js";
import { type BrowsedRecord, firstSeqAtTime, recordsBefore } from "./jetstream-browse.js";
import {
  dataMessages,
  type JetStreamContext,
  lastOf,
  type MetaState,
  parseMeta,
  RECORDS_PER_MESSAGE_MAX,
} from "./jetstream-reads.js";
import { apiCode, patiently } from "./nats-calls.js";
import { recordBatches } from "./record-batches.js";
import { decodeFrames, encodeFrames, frameBytes } from "./record-frames.js";
import { StreamFigures } from "./stream-figures.js";

/** JetStream's "wrong last sequence" (the compare-and-set lost). */
const WRONG_LAST_SEQUENCE = 10_071;
const HEADER_COUNT = "Tm-Count";
const HEADER_CHANGE = "Tm-Change";
const HEADER_ORIGIN = "Tm-Origin";

interface QueuedAppend {
  records: { payload: Uint8Array | string; attributes: Uint8Array | undefined }[];
  bytes: number;
  /** A close (a message of no records, its change in a header): always published alone. */
  change?: Uint8Array;
  resolve(lastSeq: number): void;
  reject(err: unknown): void;
}

export interface Tail {
  lastJsSeq: number;
  lastPosition: number;
}

/** A sliding TTL's last use is stored at most this often per stream and process. */
const ACCESS_RECORD_EVERY_MS = 200;

export class JetStreamStoredStream {
  private queue: QueuedAppend[] = [];
  private publishing = false;
  private pumpScheduled = false;
  private accessRecordedMs = 0;
  private readonly figures = new StreamFigures();

  constructor(
    private readonly ctx: JetStreamContext,
    readonly name: string,
    private state: MetaState,
    private tail: Tail,
    private readonly base: number,
  ) {}

  get meta(): Readonly<Record<string, unknown>> {
    return this.state.meta;
  }

  info() {
    return {
      firstSeq: 1,
      lastSeq: Math.max(0, this.tail.lastPosition - this.base),
      createdAt: this.state.createdAt,
    };
  }

  append(
    payloads: readonly (Uint8Array | string)[],
    attributes: Uint8Array | undefined,
  ): Promise<number> {
    if (payloads.length > RECORDS_PER_MESSAGE_MAX) {
      return Promise.reject(
        new TidemarkError(
          "BATCH_TOO_LARGE",
          `an append on JetStream holds at most ${RECORDS_PER_MESSAGE_MAX} messages, got ${payloads.length}`,
        ),
      );
    }
    const last = payloads.length - 1;
    const records = payloads.map((payload, i) => ({
      payload,
      attributes: i === last ? attributes : undefined,
    }));
    let bytes = 0;
    for (const record of records) bytes += frameBytes(record.payload, record.attributes);
    if (bytes > this.ctx.messageBytesMax) {
      return Promise.reject(
        new TidemarkError(
          "RECORD_TOO_LARGE",
          `an append of ${bytes} bytes does not fit one NATS message (at most ${this.ctx.messageBytesMax} bytes with this server's max_payload)`,
          { bytes },
        ),
      );
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ records, bytes, resolve, reject });
      this.pumpSoon();
    });
  }

  appendChange(attributes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({
        records: [],
        bytes: 0,
        change: attributes,
        resolve: () => resolve(),
        reject,
      });
      this.pumpSoon();
    });
  }

  /** At the end of this turn of the loop: appends arriving meanwhile join (next-tick-batch.ts). */
  private pumpSoon(): void {
    if (this.publishing || this.pumpScheduled) return;
    this.pumpScheduled = true;
    this.ctx.soon(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.publishing || this.queue.length === 0) return;
    const batch: QueuedAppend[] = [this.queue.shift()!];
    let bytes = batch[0]!.bytes;
    let records = batch[0]!.records.length;
    while (batch[0]!.change === undefined && this.queue.length > 0) {
      const next = this.queue[0]!;
      if (next.change !== undefined) break;
      if (bytes + next.bytes > this.ctx.messageBytesMax) break;
      if (records + next.records.length > RECORDS_PER_MESSAGE_MAX) break;
      batch.push(this.queue.shift()!);
      bytes += next.bytes;
      records += next.records.length;
    }
    this.publishing = true;
    void this.publish(batch, bytes, records).finally(() => {
      this.publishing = false;
      this.pump();
    });
  }

  private async publish(batch: QueuedAppend[], bytes: number, records: number): Promise<void> {
    const first = batch[0]!;
    const body =
      first.change !== undefined
        ? new Uint8Array(0)
        : encodeFrames(
            batch.flatMap((a) => a.records),
            bytes,
          );
    const headers = natsHeaders();
    headers.set(HEADER_COUNT, String(records));
    headers.set(HEADER_ORIGIN, this.ctx.origin);
    if (first.change !== undefined) {
      headers.set(HEADER_CHANGE, Buffer.from(first.change).toString("utf8"));
    }
    const msgID = randomUUID();
    const expected = this.tail.lastJsSeq;
    let seq: number;
    try {
      const ack = await patiently("an append", this.ctx.patienceMs, () =>
        this.ctx.js.publish(this.ctx.subjects.data(this.name), body, {
          msgID,
          headers,
          expect: { lastSubjectSequence: expected },
          timeout: Math.min(5000, this.ctx.patienceMs),
        }),
      );
      seq = ack.seq;
    } catch (err) {
      const failure =
        apiCode(err) === WRONG_LAST_SEQUENCE
          ? new TidemarkError(
              "STORE_CONFLICT",
              `another process appended to ${this.name} first; the append is decided again`,
            )
          : err;
      for (const append of batch) append.reject(failure);
      for (const append of this.queue.splice(0)) append.reject(failure);
      return;
    }
    let index = 0;
    let lastPosition = this.tail.lastPosition;
    let payloadBytes = 0;
    for (const append of batch) {
      for (const record of append.records) payloadBytes += Buffer.byteLength(record.payload);
    }
    this.figures.add(records, payloadBytes, seq * RECORDS_PER_MESSAGE_MAX, Date.now());
    for (const append of batch) {
      index += append.records.length;
      if (append.records.length > 0) lastPosition = seq * RECORDS_PER_MESSAGE_MAX + index - 1;
      append.resolve(Math.max(0, lastPosition - this.base));
    }
    this.tail = { lastJsSeq: seq, lastPosition };
  }

  /** Records with seq > `after`, up to the tail known when the read starts. */
  async *read(after: number) {
    const from = this.base + after;
    const until = this.tail.lastJsSeq;
    for await (const message of this.messages(from, until)) {
      const position = message.seq * RECORDS_PER_MESSAGE_MAX;
      const records = decodeFrames(message.data, this.name);
      for (let i = 0; i < records.length; i++) {
        if (position + i <= from) continue;
        const record = records[i]!;
        yield {
          seq: position + i - this.base,
          payload: record.payload,
          attributes: record.attributes,
          timestamp: message.time.getTime(),
        };
      }
    }
  }

  readBatches(after: number) {
    return recordBatches(this.read(after));
  }

  /** What the admin views show (stream-figures.ts); JetStream keeps no limits or retention. */
  describe() {
    const { lastSeq, createdAt } = this.info();
    const first = this.figures.firstPosition;
    return {
      records: this.figures.records,
      bytes: this.figures.bytes,
      firstSeq: first === undefined ? lastSeq + 1 : first - this.base,
      lastSeq,
      createdAt,
      lastAppendAt: this.figures.lastAppendAt,
      limits: null,
      retention: null,
    };
  }

  recordsBefore(before: number, count: number): Promise<BrowsedRecord[]> {
    const { dataAfter } = this.state;
    return recordsBefore(this.ctx, { name: this.name, dataAfter, base: this.base }, before, count);
  }

  async *readFromTime(ms: number) {
    const stream = { name: this.name, dataAfter: this.state.dataAfter, base: this.base };
    const seq = await firstSeqAtTime(this.ctx, stream, ms);
    if (seq === undefined || seq > this.tail.lastJsSeq) return;
    yield* this.read(Math.max(0, seq * RECORDS_PER_MESSAGE_MAX - 1 - this.base));
  }

  private messages(from: number, until: number): AsyncGenerator<StoredMsg> {
    return dataMessages(this.ctx, this.name, this.state.dataAfter, from, until);
  }

  async setMeta(meta: Record<string, unknown>): Promise<void> {
    const body = Buffer.from(JSON.stringify({ ...meta, __tm: this.envelope() }));
    try {
      const ack = await patiently("a metadata update", this.ctx.patienceMs, () =>
        this.ctx.js.publish(this.ctx.subjects.meta(this.name), body, {
          expect: { lastSubjectSequence: this.state.metaSeq },
        }),
      );
      this.state = { ...this.state, meta, metaSeq: ack.seq };
    } catch (err) {
      if (apiCode(err) !== WRONG_LAST_SEQUENCE) throw err;
      throw new TidemarkError(
        "STORE_CONFLICT",
        `another process changed the metadata of ${this.name} at the same time; try again`,
      );
    }
  }

  /** What the metadata message carries besides the server's metadata. */
  envelope(): { dataAfter: number; createdAt: number } {
    return { dataAfter: this.state.dataAfter, createdAt: this.state.createdAt };
  }

  /**
   * Catches up with other processes: the metadata (deleted, or made again, elsewhere: gone) and
   * the records appended since this process last looked, whose coordination changes it returns.
   */
  async sync(): Promise<{ gone: boolean; changes: Uint8Array[]; meta?: Record<string, unknown> }> {
    const [metaMessage, last] = await Promise.all([
      lastOf(this.ctx, this.ctx.subjects.metaStream, this.ctx.subjects.meta(this.name)),
      lastOf(this.ctx, this.ctx.subjects.dataStream, this.ctx.subjects.data(this.name)),
    ]);
    if (metaMessage === null) return { gone: true, changes: [] };
    let meta: Record<string, unknown> | undefined;
    if (metaMessage.seq !== this.state.metaSeq) {
      const read = parseMeta(metaMessage.data, metaMessage.seq);
      if (read === undefined || read.dataAfter !== this.state.dataAfter) {
        return { gone: true, changes: [] }; // deleted and created again: another incarnation
      }
      this.state = read;
      meta = read.meta;
    }
    const changes: Uint8Array[] = [];
    if (last === null || last.seq <= this.tail.lastJsSeq) {
      return meta === undefined ? { gone: false, changes } : { gone: false, changes, meta };
    }
    let lastPosition = this.tail.lastPosition;
    const until = last.seq;
    for await (const message of this.messages(
      this.tail.lastJsSeq * RECORDS_PER_MESSAGE_MAX + RECORDS_PER_MESSAGE_MAX,
      until,
    )) {
      const change = message.header?.get(HEADER_CHANGE);
      if (change !== undefined && change !== "") {
        changes.push(Buffer.from(change, "utf8"));
        continue;
      }
      const records = decodeFrames(message.data, this.name);
      let payloadBytes = 0;
      for (const record of records) {
        payloadBytes += record.payload.byteLength;
        if (record.attributes !== undefined) changes.push(record.attributes);
      }
      const position = message.seq * RECORDS_PER_MESSAGE_MAX;
      this.figures.add(records.length, payloadBytes, position, message.time.getTime());
      if (records.length > 0)
        lastPosition = message.seq * RECORDS_PER_MESSAGE_MAX + records.length - 1;
    }
    this.tail = { lastJsSeq: until, lastPosition };
    return meta === undefined ? { gone: false, changes } : { gone: false, changes, meta };
  }

  /** Stores when the stream was last used (a sliding TTL counts from the latest, anywhere). */
  async recordAccess(ms: number): Promise<void> {
    if (ms - this.accessRecordedMs < ACCESS_RECORD_EVERY_MS) return;
    this.accessRecordedMs = ms;
    await patiently("a TTL renewal", this.ctx.patienceMs, () =>
      this.ctx.js.publish(this.ctx.subjects.access(this.name), String(ms)),
    );
  }

  /** When any process last used the stream (undefined if none said). */
  async lastAccess(): Promise<number | undefined> {
    const message = await lastOf(
      this.ctx,
      this.ctx.subjects.metaStream,
      this.ctx.subjects.access(this.name),
    );
    if (message === null) return undefined;
    const ms = Number(Buffer.from(message.data).toString("utf8"));
    return Number.isFinite(ms) ? ms : undefined;
  }

  /**
   * Calls `wake` when another process publishes to this stream (a core NATS subscription on its
   * subject; the message may be one JetStream refused, so the caller syncs to learn the truth).
   * Past the process's bound on subscriptions, a timer polls instead.
   */
  watch(wake: () => void): () => void {
    const watches = this.ctx.watches;
    if (watches.count >= watches.max) {
      const timer = setInterval(wake, 250);
      timer.unref();
      return () => clearInterval(timer);
    }
    watches.count++;
    let subscription: Subscription | undefined = this.ctx.nc.subscribe(
      this.ctx.subjects.data(this.name),
      {
        callback: (_err, message) => {
          if (message?.headers?.get(HEADER_ORIGIN) !== this.ctx.origin) wake();
        },
      },
    );
    // An append made before the subscription reached the server would not be heard: once it
    // has (a flush is a round trip), look once.
    void this.ctx.nc.flush().then(wake, () => undefined);
    return () => {
      if (subscription === undefined) return;
      subscription.unsubscribe();
      subscription = undefined;
      watches.count--;
    };
  }
}
