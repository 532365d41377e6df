/**
 * The JSON shapes of the admin API (`/v1/stats`, `/v1/streams`, `/v1/messages`, `/v1/outbox`,
 * `/v1/auth`): what the dashboard reads and what scripts may rely on. Self-contained on purpose
 * (no imports): the dashboard, a browser app, type-checks against this file without Node's
 * types. The server builds these from its own types, so the compiler keeps the two in step.
 */

export type AccessLevel = "read" | "write";

export interface Scope {
  prefix: string;
  access: AccessLevel;
}

/** `GET /v1/auth`: who the request's token is (any known token may ask). */
export interface AuthView {
  /** False when the server runs without auth: every request may do everything. */
  enabled: boolean;
  /** The token's name from the config, or null with auth off. */
  token: string | null;
  scopes: Scope[];
}

export interface ReleasedView {
  segments: number;
  records: number;
  bytes: number;
}

export interface RecoveryView {
  kind: string;
  message: string;
  stream?: string;
  segment?: string;
  offset?: number;
  bytes?: number;
  firstSeq?: number;
  lastSeq?: number;
  path?: string;
}

/** `GET /v1/stats`. Counters run since the server started; rates are the reader's job. */
export interface StatsView {
  /** Server time (ms since the epoch) when the answer was made. */
  now: number;
  startedAt: number;
  durability: string;
  journal: {
    /** Every journal stream, the server's and outboxes' internal ones included. */
    streams: number;
    bytes: number;
    records: number;
    /** The journal's bytesMax, or null without one. */
    bytesMax: number | null;
    discard: "old" | "new";
    diskFreeBytes: number | null;
    diskFreeBytesMin: number;
    oldestTimestamp: number | null;
    newestTimestamp: number | null;
    evictions: ReleasedView;
    expiries: ReleasedView;
    acknowledged: ReleasedView;
    trimmed: ReleasedView;
    streamsDeleted: number;
    streamsSwept: number;
    rejected: { STREAM_FULL: number; JOURNAL_FULL: number; DISK_FULL: number };
    syncs: number;
  };
  /** Durable Streams streams (what `/v1/streams` lists). */
  streams: number;
  live: { sse: number; longPoll: number; max: number };
  totals: {
    appends: number;
    appendBytes: number;
    readBytes: number;
    requests: number;
  };
  /** What the journal repaired or found damaged when it opened (the newest 100). */
  recovery: RecoveryView[];
  recoveryEvents: number;
}

export interface StreamLimitsView {
  bytesMax?: number;
  recordsMax?: number;
  ageMsMax?: number;
  discard?: "old" | "new";
}

/** Where the server keeps its streams: the local journal, or NATS JetStream (`--nats`). */
export type StoreKind = "journal" | "jetstream";

/**
 * One row of `GET /v1/streams`. On JetStream a row comes from the stream's metadata alone (a
 * list never reads 10,000 streams): the figures that need its records (records, bytes, seqs,
 * last append, closed, tail offset) are null there; the stream's detail has them.
 */
export interface StreamRow {
  name: string;
  records: number | null;
  /** The journal: bytes on disk, segment headers included; JetStream: payload bytes. */
  bytes: number | null;
  firstSeq: number | null;
  lastSeq: number | null;
  createdAt: number;
  lastAppendAt: number | null;
  contentType: string;
  closed: boolean | null;
  ttlSeconds: number | null;
  expiresAt: string | null;
  /** When the stream expires (TTL from its last access, or Expires-At), or null. */
  expiresAtMs: number | null;
  /** Its stream limits (none on JetStream: `{}`). */
  limits: StreamLimitsView;
  /** The journal's retention; null on JetStream (a stream keeps everything until deleted). */
  retention: "limits" | "acked" | null;
  /** How full its bytesMax / recordsMax is, the larger of the two (0–1), or null without one. */
  full: number | null;
  /** The offset after its last message (what `?offset=` takes to read from the tail). */
  tailOffset: string | null;
  fork: { source: string; offset: number } | null;
}

export type StreamSort = "name" | "records" | "bytes" | "lastAppendAt" | "full";

/** `GET /v1/streams?prefix=&after=&limit=&sort=&order=`. */
export interface StreamPage {
  streams: StreamRow[];
  /**
   * Streams matching the prefix that the token may read. On JetStream, counted from the names
   * alone: it may include streams a page then leaves out (expired, or deleted but kept for
   * their forks) until they are removed.
   */
  total: number;
  /** `after` for the next page, or null on the last one. */
  next: string | null;
  store: StoreKind;
  /** The orders this server can list by (JetStream: by name only). */
  sorts: StreamSort[];
}

export interface ConsumerView {
  name: string;
  /** The last seq it acknowledged. */
  position: number;
  /** Records after its position (how far behind it is). */
  behind: number;
  ackedAt: number | null;
}

/** `GET /v1/streams/<path>`. */
export interface StreamDetail extends StreamRow {
  records: number;
  bytes: number;
  firstSeq: number;
  lastSeq: number;
  closed: boolean;
  tailOffset: string;
  store: StoreKind;
  /** Durable consumers; null where the store has none (JetStream). */
  consumers: ConsumerView[] | null;
  /** Whether `POST /v1/streams/<path>/trim` works here (not on JetStream). */
  trimmable: boolean;
  /** The stream's metadata from the library (`stream.meta`), without the server's own. */
  meta: Record<string, unknown>;
  /** Long-poll and SSE readers waiting on it now. */
  liveWaiters: number;
}

/** How a message's payload is given: JSON text, UTF-8 text, or base64 of the bytes. */
export type PayloadEncoding = "json" | "text" | "base64";

export interface MessageView {
  seq: number;
  /** Its Durable Streams offset (the position after it). */
  offset: string;
  timestamp: number;
  bytes: number;
  encoding: PayloadEncoding;
  data: string;
  /** The payload was longer than the preview: `data` holds its first bytes. */
  truncated: boolean;
}

/** `GET /v1/messages/<path>?after=|before=|offset=|fromTime=&limit=`. */
export interface MessagePage {
  stream: string;
  firstSeq: number;
  lastSeq: number;
  messages: MessageView[];
  /** `after` for the next page, or null when this page reached the tail. */
  next: number | null;
  /** `before` for the previous page, or null when this page starts at the first record. */
  previous: number | null;
}

export interface UpstreamAnswerView {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface OutboxEntryView {
  id: string;
  state: "pending" | "in-flight" | "conflict" | "dead";
  key: string | null;
  method: string;
  target: string;
  headers: Record<string, string>;
  precondition: { ifMatch: string } | { ifUnmodifiedSince: string } | null;
  enqueuedAt: number;
  attempts: number;
  bodyBytes: number;
  lastError: string | null;
  reason?: string;
  answer?: UpstreamAnswerView | null;
  heldAt?: number;
}

export interface OutboxStatusView {
  name: string;
  upstream: string;
  running: boolean;
  pending: number;
  inFlight: number;
  oldestPendingAgeMs: number | null;
  delivered: number;
  attempts: number;
  failedAttempts: number;
  conflicts: number;
  deadLetters: number;
  upstreamDown: boolean;
  lastError: { message: string; at: number; entry: string } | null;
}

export interface MirrorStatusView {
  source: string;
  target: string;
  running: boolean;
  position: number;
  behind: number;
  delivered: number;
  failedAttempts: number;
  halted: string | null;
  lastError: { message: string; at: number } | null;
}

/** `GET /v1/outbox`: the outboxes and mirrors the token may read. */
export interface OutboxList {
  outboxes: OutboxStatusView[];
  mirrors: MirrorStatusView[];
}

/** `GET /v1/outbox/<name>`. */
export interface OutboxDetail extends OutboxStatusView {
  /** The oldest pending entries (at most `limit`, default 100). */
  pendingEntries: OutboxEntryView[];
  conflictEntries: OutboxEntryView[];
  deadLetterEntries: OutboxEntryView[];
  /** May the token retry, discard and enqueue here? */
  writable: boolean;
}

/** `GET /v1/outbox/<name>/entries/<id>`. */
export interface OutboxEntryDetail extends OutboxEntryView {
  bodyBase64: string;
}
