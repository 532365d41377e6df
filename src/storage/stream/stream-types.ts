/**
 * The shapes a stream's public methods take and give (stream.ts): what `info()` reports and the
 * options of append, read, follow, configure and trim. Kept apart so the API reads in one place.
 */
import type { Retention, StreamLimits } from "../retention/stream-limits.js";

export interface StreamInfo {
  name: string;
  /** First retained seq; `lastSeq + 1` when the stream holds no records. */
  firstSeq: number;
  /** Last committed seq; 0 before the first append. */
  lastSeq: number;
  records: number;
  /** Bytes on disk, segment headers included. */
  bytes: number;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** Timestamp of the last record, or null when there is none. */
  lastAppendAt: number | null;
}

export interface AppendOptions {
  /** A small block (≤ 65,535 bytes) stored with the record and returned by reads. */
  attributes?: Uint8Array;
}

export interface AppendResult {
  seq: number;
  timestamp: number;
}

export interface ReadOptions {
  /** Read records with seq > after. Default: from the oldest retained record. */
  after?: number;
  /** Most records to read. Default: no limit (memory stays bounded either way). */
  limit?: number;
  /** Only records appended at or after this time (ms since the epoch, or a Date). */
  fromTime?: number | Date;
  /** Only records appended at or before this time. */
  toTime?: number | Date;
}

export interface FollowOptions {
  /** Deliver records with seq > after. Default: from the oldest retained record. */
  after?: number;
  /** Ends the follow (without an error) when aborted. */
  signal?: AbortSignal;
}

export interface StreamConfig {
  /** Replace the stream's limits (all of them: an omitted limit means none). */
  limits?: StreamLimits;
  retention?: Retention;
}

export interface TrimOptions {
  /** Release every record with a seq below this one. */
  before: number;
}
