/**
 * What recovery found and did (docs/format.md §9). Every repair and every piece of damage is
 * reported with enough context to find it on disk; nothing is skipped or removed silently.
 */
export type RecoveryEventKind =
  /** Bytes after the last complete atomic append were cut (a crash mid-write). */
  | "torn-tail"
  /** Damage that cost or may cost records; the context says which. */
  | "corrupt"
  /** A segment without a valid header or records (a crash during rotation) was removed. */
  | "removed-segment"
  /** The checkpoint did not match the data; the active segment was scanned in full. */
  | "checkpoint-ignored"
  /** A file tidemark does not know was found and left alone. */
  | "unknown-file"
  /** Leftovers of an interrupted create, delete or file replacement were removed. */
  | "removed-temp"
  /** Acknowledged bytes a segment had lost were written again from the commit log. */
  | "redone";

export interface RecoveryEvent {
  kind: RecoveryEventKind;
  message: string;
  stream?: string;
  segment?: string;
  offset?: number;
  bytes?: number;
  firstSeq?: number;
  lastSeq?: number;
  path?: string;
}

export type RecoveryReporter = (event: RecoveryEvent) => void;
