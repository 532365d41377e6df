/**
 * Operating errors: things that go wrong in a correct program (bad input, a full disk, a lock
 * held by another process, a damaged file). Each has a stable `code` that callers and the HTTP
 * server switch on, a message a person can act on, and the context needed to find the problem.
 * Programmer errors are assertions (`assert.ts`), not these.
 */

/**
 * Every code tidemark can return, in one list: the journal's, the outbox's and the server's. The
 * HTTP layer maps each to a status through one table typed over this list
 * (server/http/error-answers.ts), so a new code without a status fails the typecheck.
 */
export const ERROR_CODES = [
  // The journal (storage).
  "INVALID_ARGUMENT",
  "INVALID_NAME",
  "RECORD_TOO_LARGE",
  "BATCH_TOO_LARGE",
  "CORRUPT",
  "CLOSED",
  "NOT_FOUND",
  "NOT_A_JOURNAL",
  "UNSUPPORTED_FORMAT",
  "JOURNAL_LOCKED",
  "READ_ONLY",
  "IO_ERROR",
  "PERMISSION_DENIED",
  "DISK_FULL",
  "STREAM_FULL",
  "JOURNAL_FULL",
  "CURSOR_EXPIRED",
  // The outbox.
  "OUTBOX_FULL",
  // The Durable Streams protocol (server): requests.
  "INVALID_REQUEST",
  "INVALID_JSON",
  "JSON_TOO_DEEP",
  "EMPTY_BODY",
  "EMPTY_JSON_ARRAY",
  "INCOMPLETE_BODY",
  "BODY_TOO_LARGE",
  "HEADERS_TOO_LARGE",
  "REQUEST_TIMEOUT",
  "MISSING_OFFSET",
  "OFFSET_PAST_TAIL",
  "MISSING_CONTENT_TYPE",
  "INVALID_LIVE",
  "INVALID_FORK",
  "INVALID_TTL",
  "INVALID_EXPIRES_AT",
  "INVALID_EXPIRY",
  "INVALID_SUB_OFFSET",
  "INVALID_PRODUCER",
  "METHOD_NOT_ALLOWED",
  // … access.
  "UNAUTHORIZED",
  "FORBIDDEN",
  // … streams.
  "GONE",
  "STREAM_EXISTS",
  "STREAM_DELETED",
  "STREAM_CLOSED",
  "STREAM_SEQ_CONFLICT",
  "CONTENT_TYPE_MISMATCH",
  "SOURCE_DELETED",
  "PRODUCER_FENCED",
  "PRODUCER_SEQ_GAP",
  "PRODUCER_EPOCH_SEQ",
  // … subscriptions.
  "SUBSCRIPTION_NOT_FOUND",
  "SUBSCRIPTION_ALREADY_EXISTS",
  "TOO_MANY_SUBSCRIPTIONS",
  "TOO_MANY_STREAMS",
  "WEBHOOK_URL_REJECTED",
  "NO_PENDING_WORK",
  "ALREADY_CLAIMED",
  "FENCED",
  // … the server itself.
  "TOO_MANY_LIVE_READERS",
  "SHUTTING_DOWN",
  "NOT_SUPPORTED",
  "ADDRESS_IN_USE",
  "SERVER_BUSY",
  "STORE_UNAVAILABLE",
  "STORE_CONFLICT",
  "INTERNAL",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorContext {
  stream?: string;
  segment?: string;
  offset?: number;
  bytes?: number;
  path?: string;
  [key: string]: unknown;
}

export class TidemarkError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.code = code;
    this.context = context;
  }
}

export class InvalidArgumentError extends TidemarkError {
  constructor(message: string, context: ErrorContext = {}) {
    super("INVALID_ARGUMENT", message, context);
  }
}

export class InvalidNameError extends TidemarkError {
  constructor(message: string, context: ErrorContext = {}) {
    super("INVALID_NAME", message, context);
  }
}

export class RecordTooLargeError extends TidemarkError {
  constructor(message: string, context: ErrorContext = {}) {
    super("RECORD_TOO_LARGE", message, context);
  }
}

export class BatchTooLargeError extends TidemarkError {
  constructor(message: string, context: ErrorContext = {}) {
    super("BATCH_TOO_LARGE", message, context);
  }
}

export interface CorruptContext extends ErrorContext {
  /** First seq that could not be read, when known. */
  firstSeqLost?: number;
  /** Last seq that could not be read, when known. */
  lastSeqLost?: number;
  /** `read({ after: resumeAfter })` continues past the damage, when a later record was found. */
  resumeAfter?: number;
}

export class CorruptError extends TidemarkError {
  declare readonly context: CorruptContext;
  constructor(message: string, context: CorruptContext = {}, cause?: unknown) {
    super("CORRUPT", message, context, cause);
  }
}

export class ClosedError extends TidemarkError {
  constructor(message = "the journal is closed", context: ErrorContext = {}) {
    super("CLOSED", message, context);
  }
}

export class NotFoundError extends TidemarkError {
  constructor(message: string, context: ErrorContext = {}) {
    super("NOT_FOUND", message, context);
  }
}

export class NotAJournalError extends TidemarkError {
  constructor(message: string, context: ErrorContext = {}) {
    super("NOT_A_JOURNAL", message, context);
  }
}

export class UnsupportedFormatError extends TidemarkError {
  constructor(message: string, context: ErrorContext = {}) {
    super("UNSUPPORTED_FORMAT", message, context);
  }
}

export class JournalLockedError extends TidemarkError {
  constructor(message: string, context: ErrorContext = {}) {
    super("JOURNAL_LOCKED", message, context);
  }
}

export class ReadOnlyError extends TidemarkError {
  constructor(message = "the journal was opened read-only", context: ErrorContext = {}) {
    super("READ_ONLY", message, context);
  }
}

export class IoError extends TidemarkError {
  constructor(message: string, context: ErrorContext = {}, cause?: unknown) {
    super("IO_ERROR", message, context, cause);
  }
}

export class DiskFullError extends TidemarkError {
  constructor(message: string, context: ErrorContext = {}, cause?: unknown) {
    super("DISK_FULL", message, context, cause);
  }
}

/** Wraps an error thrown by a file system call in the matching operating error. */
export function fromSystemError(
  err: unknown,
  action: string,
  context: ErrorContext,
): TidemarkError {
  if (err instanceof TidemarkError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const detail = err instanceof Error ? err.message : String(err);
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new DiskFullError(`no space left on the device while trying to ${action}`, context, err);
  }
  if (code === "EACCES" || code === "EPERM") {
    const where =
      context.path === undefined ? "" : ` (check the owner and mode of ${context.path})`;
    return new TidemarkError(
      "PERMISSION_DENIED",
      `permission denied while trying to ${action}${where}`,
      context,
      err,
    );
  }
  return new IoError(`could not ${action}: ${detail}`, context, err);
}

export function isErrnoCode(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code;
}

export class CursorExpiredError extends TidemarkError {
  /** The first seq the stream still holds: `read({ after: firstSeq - 1 })` resumes from it. */
  readonly firstSeq: number;
  constructor(message: string, firstSeq: number, context: ErrorContext = {}) {
    super("CURSOR_EXPIRED", message, { ...context, firstSeq });
    this.firstSeq = firstSeq;
  }
}

export class StreamFullError extends TidemarkError {
  constructor(message: string, context: ErrorContext = {}) {
    super("STREAM_FULL", message, context);
  }
}

export class JournalFullError extends TidemarkError {
  constructor(message: string, context: ErrorContext = {}) {
    super("JOURNAL_FULL", message, context);
  }
}

/** An outbox holds `entriesMax` pending entries: the enqueue is refused, nothing was stored. */
export class OutboxFullError extends TidemarkError {
  constructor(message: string, context: ErrorContext = {}) {
    super("OUTBOX_FULL", message, context);
  }
}
