/**
 * The local journal as the server's store: one journal stream per Durable Streams stream, named
 * after its path, so the library and the CLI see the same names. The journal is written by this
 * process only (it holds the writer lock), so nothing here is compare-and-set: the server's own
 * ordering of appends is the whole story.
 */
import type { Journal, Stream, StreamLimits } from "../../storage/index.js";
import type {
  StoredBatches,
  StoredConsumer,
  StoredFigures,
  StoredRecord,
  StoredStream,
  StreamStore,
} from "./stream-store.js";

export class JournalStore implements StreamStore {
  readonly shared = false;
  readonly kind = "journal";

  constructor(
    readonly journal: Journal,
    /** Names the server keeps for itself (its subscriptions, outboxes): not Durable Streams. */
    private readonly isOwn: (name: string) => boolean,
  ) {}

  async names(): Promise<string[]> {
    return this.journal.list().filter((name) => !this.isOwn(name));
  }

  async open(name: string): Promise<StoredStream | undefined> {
    if (!this.journal.list().includes(name)) return undefined;
    return new JournalStoredStream(await this.journal.stream(name));
  }

  async create(
    name: string,
    meta: Record<string, unknown>,
    limits: StreamLimits | undefined,
  ): Promise<StoredStream> {
    if (this.journal.list().includes(name)) {
      // Left over by an interrupted delete of this path: a new incarnation starts empty.
      await this.journal.deleteStream(name);
    }
    const stream = await this.journal.stream(name, {
      ...(limits === undefined ? {} : { limits }),
      meta,
    });
    return new JournalStoredStream(stream);
  }

  async delete(name: string): Promise<void> {
    await this.journal.deleteStream(name);
  }

  async close(): Promise<void> {
    // The journal is the server's to close (it holds more than Durable Streams).
  }
}

class JournalStoredStream implements StoredStream {
  constructor(readonly journalStream: Stream) {}

  get name(): string {
    return this.journalStream.name;
  }

  get meta(): Readonly<Record<string, unknown>> {
    return this.journalStream.meta;
  }

  info() {
    return this.journalStream.info();
  }

  append(
    payloads: readonly (Uint8Array | string)[],
    attributes: Uint8Array | undefined,
  ): Promise<number> {
    const options = attributes === undefined ? {} : { attributes };
    if (payloads.length === 1) {
      return this.journalStream.append(payloads[0]!, options).then(({ seq }) => seq);
    }
    return this.journalStream.appendMany(payloads, options).then((seqs) => seqs[seqs.length - 1]!);
  }

  read(after: number): AsyncIterableIterator<StoredRecord> {
    return this.journalStream.read({ after });
  }

  readBatches(after: number): StoredBatches {
    return this.journalStream.readBatches({ after });
  }

  setMeta(meta: Record<string, unknown>): Promise<void> {
    return this.journalStream.setMeta(meta);
  }

  describe(): StoredFigures {
    const info = this.journalStream.info();
    return {
      records: info.records,
      bytes: info.bytes,
      firstSeq: info.firstSeq,
      lastSeq: info.lastSeq,
      createdAt: info.createdAt,
      lastAppendAt: info.lastAppendAt,
      limits: this.journalStream.limits,
      retention: this.journalStream.retention,
    };
  }

  /** Seqs are contiguous here: the records before `before` are one read from a computed seq. */
  async recordsBefore(before: number, count: number): Promise<StoredRecord[]> {
    const { firstSeq, lastSeq } = this.journalStream.info();
    const end = Math.min(before, lastSeq + 1);
    const take = Math.min(count, end - firstSeq);
    if (take <= 0) return [];
    const records: StoredRecord[] = [];
    for await (const record of this.journalStream.read({ after: end - 1 - take, limit: take })) {
      records.push(record);
    }
    return records;
  }

  readFromTime(ms: number): AsyncIterableIterator<StoredRecord> {
    return this.journalStream.read({ fromTime: ms });
  }

  trim(before: number): Promise<void> {
    return this.journalStream.trim({ before });
  }

  consumers(): StoredConsumer[] {
    return this.journalStream.consumers().map((consumer) => ({
      name: consumer.name,
      position: consumer.position,
      ackedAt: consumer.ackedAt,
    }));
  }
}
