/**
 * Where an importer's records go, one stream at a time. A stream that does not exist yet is
 * built with the records' own seqs and timestamps (Journal.importStream): seqs kept as the
 * source has them (gaps recorded as lost), or numbered 1, 2, 3… when the source has none.
 * With `--append` to an existing stream, records are appended like any others: seqs continue
 * after its last one and timestamps are the time of the import (the journal stamps appends).
 *
 * Timestamps never decrease in a stream (docs/format.md §4.2): one earlier than the record
 * before it is raised to it, and the count and the first seq raised are reported.
 */
import type { Journal, Payload, Stream } from "../../index.js";
import type { JournalImport } from "../../storage/index.js";
import { cliError } from "../journal-access.js";

/** Appends gathered into one atomic batch with --append. */
const APPEND_BATCH_RECORDS = 1000;
const APPEND_BATCH_BYTES = 4 * 1024 * 1024;

export type SeqPolicy = "kept" | "numbered" | "appended";

export interface TargetSummary {
  stream: string;
  records: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** kept: the source's seqs; numbered: 1..n in source order; appended: after the stream's. */
  seqs: SeqPolicy;
  /** Where timestamps came from (importer-specific: "kept", "file modification time"…). */
  timestamps: string;
  /** Seqs the source skipped (recorded as lost), as [first, last] ranges. */
  lost: Array<readonly [number, number]>;
  /** Timestamps raised to the previous record's, and the first seq that was. */
  raised: number;
  firstRaisedSeq: number | null;
  /** Anything else the import did to the source's seqs or timestamps. */
  note?: string;
}

export interface TargetOptions {
  append: boolean;
  /** Whether records come with seqs of their own. */
  ownSeqs: boolean;
  timestamps: string;
  createdAtMs: number;
  meta?: Record<string, unknown>;
}

export class RecordTarget {
  private lastTimestampMs = 0;
  private nextNumber = 1;
  private records = 0;
  private firstSeq: number | null = null;
  private lastSeq: number | null = null;
  private raised = 0;
  private firstRaisedSeq: number | null = null;
  private batch: Payload[] = [];
  private batchBytes = 0;

  private constructor(
    readonly name: string,
    private readonly policy: SeqPolicy,
    private readonly timestamps: string,
    private readonly building: JournalImport | undefined,
    private readonly appending: Stream | undefined,
  ) {}

  static async open(journal: Journal, name: string, options: TargetOptions): Promise<RecordTarget> {
    const exists = journal.list().includes(name);
    if (exists && !options.append) {
      throw cliError(
        "STREAM_EXISTS",
        `stream ${JSON.stringify(name)} already exists; import into another name (--stream), ` +
          "add --append to append to it (seqs renumbered, timestamps of now), or tidemark rm it first",
        { stream: name },
      );
    }
    if (exists) {
      const stream = await journal.stream(name);
      return new RecordTarget(name, "appended", "the time of the import", undefined, stream);
    }
    const building = await journal.importStream(name, {
      createdAtMs: options.createdAtMs,
      ...(options.meta === undefined ? {} : { meta: options.meta }),
    });
    return new RecordTarget(
      name,
      options.ownSeqs ? "kept" : "numbered",
      options.timestamps,
      building,
      undefined,
    );
  }

  /** The last seq taken (a record must come with a higher one when seqs are kept). */
  get last(): number {
    return this.lastSeq ?? 0;
  }

  /** Adds a record; `seq` is used only when seqs are kept. Await a returned promise. */
  add(
    seq: number | undefined,
    timestampMs: number,
    payload: Uint8Array,
    attributes?: Uint8Array,
  ): Promise<void> | undefined {
    if (this.appending !== undefined) {
      this.batch.push(payload);
      this.batchBytes += payload.byteLength;
      this.count(this.appending.info().lastSeq + this.batch.length);
      if (this.batch.length >= APPEND_BATCH_RECORDS || this.batchBytes >= APPEND_BATCH_BYTES) {
        return this.flushAppends();
      }
      return undefined;
    }
    const own = this.policy === "kept" ? seq! : this.nextNumber++;
    let ts = timestampMs;
    if (ts < this.lastTimestampMs) {
      this.raised++;
      this.firstRaisedSeq ??= own;
      ts = this.lastTimestampMs;
    }
    this.lastTimestampMs = ts;
    this.count(own);
    return this.building!.add({ seq: own, timestamp: ts, payload, attributes });
  }

  /** Puts the stream in place (or appends what is left) and says what was imported. */
  async finish(lastSeq?: number): Promise<TargetSummary> {
    let lost: Array<readonly [number, number]> = [];
    if (this.appending !== undefined) {
      await this.flushAppends();
    } else {
      const { summary } = await this.building!.finish(lastSeq);
      lost = summary.lost;
      if (lastSeq !== undefined) this.lastSeq = lastSeq;
    }
    return {
      stream: this.name,
      records: this.records,
      firstSeq: this.firstSeq,
      lastSeq: this.lastSeq,
      seqs: this.policy,
      timestamps: this.timestamps,
      lost,
      raised: this.raised,
      firstRaisedSeq: this.firstRaisedSeq,
    };
  }

  /** Removes a stream being built (appends already made stay). */
  async abort(): Promise<void> {
    await this.building?.abort();
  }

  private count(seq: number): void {
    this.records++;
    this.firstSeq ??= seq;
    this.lastSeq = seq;
  }

  private async flushAppends(): Promise<void> {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    await this.appending!.appendMany(batch);
  }
}
