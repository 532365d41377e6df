/**
 * HTTP errors and the one table that maps error codes to statuses. Handlers throw `HttpError`
 * for protocol conditions; journal errors (`TidemarkError`) are mapped by their stable `code`,
 * never by message text. Every error response is JSON: `{"error":{"code","message"}}`.
 */
import { TidemarkError } from "../../errors.js";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    /** Extra fields for the error body (e.g. who holds a claim). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** Journal error codes and the status each one answers with. */
export const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  INVALID_ARGUMENT: 400,
  INVALID_NAME: 400,
  RECORD_TOO_LARGE: 413,
  BATCH_TOO_LARGE: 413,
  NOT_FOUND: 404,
  CURSOR_EXPIRED: 410,
  STREAM_FULL: 507,
  JOURNAL_FULL: 507,
  OUTBOX_FULL: 507,
  DISK_FULL: 507,
  CLOSED: 503,
  READ_ONLY: 503,
  JOURNAL_LOCKED: 503,
  CORRUPT: 500,
  IO_ERROR: 500,
  NOT_A_JOURNAL: 500,
  UNSUPPORTED_FORMAT: 500,
};

export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof TidemarkError) {
    const status = STATUS_BY_CODE[err.code] ?? 500;
    const headers: Record<string, string> = {};
    if (err.code === "CLOSED" || err.code === "DISK_FULL") headers["retry-after"] = "1";
    return new HttpError(status, err.code, err.message, headers);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new HttpError(500, "INTERNAL", `internal error: ${message}`);
}

export const badRequest = (code: string, message: string) => new HttpError(400, code, message);
export const notFound = (path: string) => new HttpError(404, "NOT_FOUND", `no stream at ${path}`);
export const gone = (path: string) =>
  new HttpError(
    410,
    "GONE",
    `the stream at ${path} was deleted; it remains only as the source of forks`,
  );
export const conflict = (code: string, message: string, headers: Record<string, string> = {}) =>
  new HttpError(409, code, message, headers);
