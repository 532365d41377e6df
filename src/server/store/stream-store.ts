/**
 * The store under the Durable Streams server: where a stream's records, its metadata and its
 * coordination state (producers, Stream-Seq, closed; they ride on the records' attributes) live.
 * The server is written against these two interfaces; the local journal (journal-store.ts) and
 * NATS JetStream (src/jetstream) implement them.
 *
 * A record's `seq` only has to increase within a stream, not to be contiguous: the journal's
 * seqs are 1, 2, 3…; JetStream's are spaced by its sequence numbers (docs/jetstream.md). A
 * shared store is written by other processes too: its streams implement `sync` (catch up with
 * what others committed, before a decision or a read) and `watch` (hear of their appends), and
 * its appends are compare-and-set, failing with STORE_CONFLICT when another process got there
 * first (the caller catches up and decides again).
 */
import type { StreamLimits } from "../../storage/index.js";

export interface StoredRecord {
  readonly seq: number;
  readonly payload: Uint8Array;
  readonly attributes?: Uint8Array | undefined;
  /** When it was committed (ms since the epoch), where the store keeps it. */
  readonly timestamp?: number;
}

export interface StoredStreamInfo {
  /** First retained seq; `lastSeq + 1` when the stream holds no records. */
  firstSeq: number;
  /** Last committed seq; 0 before the first append. */
  lastSeq: number;
  /** Milliseconds since the epoch. */
  createdAt: number;
}

/**
 * What the admin views show of a stream beyond `info()`. A figure the store does not keep is
 * null (JetStream has no durable consumers, stream limits or retention: docs/jetstream.md).
 */
export interface StoredFigures {
  records: number;
  /** The journal: bytes its segments hold; JetStream: the records' payload bytes. */
  bytes: number;
  /** The first record's seq; `lastSeq + 1` when the stream holds none. */
  firstSeq: number;
  lastSeq: number;
  createdAt: number;
  lastAppendAt: number | null;
  limits: StreamLimits | null;
  retention: "limits" | "acked" | null;
}

/** A durable consumer of a stream (journal streams have them; mirrors keep one). */
export interface StoredConsumer {
  name: string;
  position: number;
  ackedAt: number | null;
}

/** A stream as a listing sees it, from its metadata alone (without opening or reading it). */
export interface StoredSummary {
  name: string;
  meta: Readonly<Record<string, unknown>>;
  createdAt: number;
  /** When any process last used it (a sliding TTL), where the store keeps that. */
  lastAccessMs?: number;
}

export interface StoredBatches {
  /** Up to `max` records, or undefined at the end. */
  nextBatch(max: number): Promise<readonly StoredRecord[] | undefined>;
  return(): Promise<unknown>;
}

/** What a shared stream learned from its store when it caught up. */
export interface StoredSync {
  /** Deleted (or deleted and created again) by another process. */
  gone: boolean;
  /** Attributes of records committed since the last sync or append, in order. */
  changes: Uint8Array[];
  /** The metadata, when another process changed it. */
  meta?: Readonly<Record<string, unknown>>;
}

export interface StoredStream {
  readonly name: string;
  readonly meta: Readonly<Record<string, unknown>>;
  info(): StoredStreamInfo;
  /**
   * Appends the payloads as one atomic batch (contiguous seqs; `attributes` on the last record).
   * Resolves with the last record's seq.
   */
  append(
    payloads: readonly (Uint8Array | string)[],
    attributes: Uint8Array | undefined,
  ): Promise<number>;
  read(after: number): AsyncIterableIterator<StoredRecord>;
  /** Records in batches; a batch's payload views are valid until the next one is asked for. */
  readBatches(after: number): StoredBatches;
  setMeta(meta: Record<string, unknown>): Promise<void>;
  /** Figures for the admin views, as of the last sync or append. */
  describe(): StoredFigures;
  /** The last `count` records with seq < `before`, oldest first (the message browser's back). */
  recordsBefore(before: number, count: number): Promise<StoredRecord[]>;
  /** Records committed at or after `ms` (ms since the epoch), in order. */
  readFromTime(ms: number): AsyncIterableIterator<StoredRecord>;
  /** Releases the records with seqs below `before`; absent where the store cannot (JetStream). */
  trim?(before: number): Promise<void>;
  /** Its durable consumers; absent where the store has none (JetStream). */
  consumers?(): StoredConsumer[];
  /** Shared stores: a record with no payload carrying a coordination change (a close). */
  appendChange?(attributes: Uint8Array): Promise<void>;
  /** Shared stores: catches up with what other processes committed. */
  sync?(): Promise<StoredSync>;
  /** Shared stores: stores when the stream was used (a sliding TTL renews everywhere). */
  recordAccess?(ms: number): Promise<void>;
  /** Shared stores: when any process last used the stream. */
  lastAccess?(): Promise<number | undefined>;
  /** Shared stores: calls `wake` (soon, maybe spuriously) when another process appends. */
  watch?(wake: () => void): () => void;
}

/** A shared store's record (see SharedRecords): its bytes, and the revision to write against. */
export interface SharedRecord {
  /** Undefined when there is no such record (never written, or removed). */
  value: Uint8Array | undefined;
  /** 0 when the record was never written. */
  revision: number;
}

/**
 * Shared stores: small records by key that every process of a deployment sees (the server's
 * subscriptions and webhook key), written by compare-and-set on their revision.
 */
export interface SharedRecords {
  readonly valueBytesMax: number;
  /** Every record there is, by key. */
  list(): Promise<Map<string, SharedRecord>>;
  /** The record as the store has it now. */
  get(key: string): Promise<SharedRecord>;
  /**
   * Writes `value` (undefined: removes the record) if it is still at `revision`; the new
   * revision, or undefined when another process wrote it first.
   */
  put(key: string, value: Uint8Array | undefined, revision: number): Promise<number | undefined>;
  /**
   * Calls `changed(key, after)` (soon, maybe spuriously) when any process writes a record, maybe
   * before the store has it: a read finding revision `after` or older is too early.
   */
  watch(changed: (key: string, after: number) => void): () => void;
}

export interface StreamStore {
  /** True when other processes write to the same streams (see the module comment). */
  readonly shared: boolean;
  /** Which store this is: what the admin views say, and how they list. */
  readonly kind: "journal" | "jetstream";
  /** The names of the streams there are (a shared store opens streams on demand instead). */
  names(): Promise<string[]>;
  /**
   * Shared stores: the metadata of these streams without opening them (a listing's page), in
   * the order given; a stream that is not there is left out.
   */
  summaries?(names: readonly string[]): Promise<StoredSummary[]>;
  open(name: string): Promise<StoredStream | undefined>;
  /** Creates the stream with its metadata in one atomic step; STREAM_EXISTS if it is there. */
  create(
    name: string,
    meta: Record<string, unknown>,
    limits: StreamLimits | undefined,
  ): Promise<StoredStream>;
  delete(name: string): Promise<void>;
  /** Shared stores: the shared records of one kind (a subject token of letters). */
  records?(kind: string): SharedRecords;
  /** Shared stores: how many live forks read through the stream (made by any process). */
  forks?(name: string): Promise<number>;
  close(): Promise<void>;
}
