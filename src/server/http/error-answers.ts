/**
 * The one table from error codes to HTTP answers. Everything below the HTTP layer raises
 * `TidemarkError`s by code (with context: the stream, the offset, the producer's epoch…); this
 * table turns each into a status, the headers the protocol asks for, and the JSON body
 * `{"error":{"code","message"}}`. It is typed over every code (errors.ts), so a code without a
 * status does not compile, and a test checks the README's error table against it.
 */
import { type ErrorCode, type ErrorContext, TidemarkError } from "../../errors.js";

export const HTTP_STATUS: { readonly [code in ErrorCode]: number } = {
  INVALID_ARGUMENT: 400,
  INVALID_NAME: 400,
  RECORD_TOO_LARGE: 413,
  BATCH_TOO_LARGE: 413,
  CORRUPT: 500,
  CLOSED: 503,
  NOT_FOUND: 404,
  NOT_A_JOURNAL: 500,
  UNSUPPORTED_FORMAT: 500,
  JOURNAL_LOCKED: 503,
  READ_ONLY: 503,
  IO_ERROR: 500,
  PERMISSION_DENIED: 500,
  DISK_FULL: 507,
  STREAM_FULL: 507,
  JOURNAL_FULL: 507,
  CURSOR_EXPIRED: 410,
  OUTBOX_FULL: 507,
  INVALID_REQUEST: 400,
  INVALID_JSON: 400,
  JSON_TOO_DEEP: 400,
  EMPTY_BODY: 400,
  EMPTY_JSON_ARRAY: 400,
  INCOMPLETE_BODY: 400,
  BODY_TOO_LARGE: 413,
  HEADERS_TOO_LARGE: 431,
  REQUEST_TIMEOUT: 408,
  MISSING_OFFSET: 400,
  OFFSET_PAST_TAIL: 400,
  MISSING_CONTENT_TYPE: 400,
  INVALID_LIVE: 400,
  INVALID_FORK: 400,
  INVALID_TTL: 400,
  INVALID_EXPIRES_AT: 400,
  INVALID_EXPIRY: 400,
  INVALID_SUB_OFFSET: 400,
  INVALID_PRODUCER: 400,
  METHOD_NOT_ALLOWED: 405,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  GONE: 410,
  STREAM_EXISTS: 409,
  STREAM_DELETED: 409,
  STREAM_CLOSED: 409,
  STREAM_SEQ_CONFLICT: 409,
  CONTENT_TYPE_MISMATCH: 409,
  SOURCE_DELETED: 409,
  PRODUCER_FENCED: 403,
  PRODUCER_SEQ_GAP: 409,
  PRODUCER_EPOCH_SEQ: 400,
  SUBSCRIPTION_NOT_FOUND: 404,
  SUBSCRIPTION_ALREADY_EXISTS: 409,
  TOO_MANY_SUBSCRIPTIONS: 507,
  TOO_MANY_STREAMS: 400,
  WEBHOOK_URL_REJECTED: 400,
  NO_PENDING_WORK: 409,
  ALREADY_CLAIMED: 409,
  FENCED: 409,
  TOO_MANY_LIVE_READERS: 503,
  SHUTTING_DOWN: 503,
  NOT_SUPPORTED: 501,
  ADDRESS_IN_USE: 500,
  SERVER_BUSY: 503,
  STORE_UNAVAILABLE: 503,
  STORE_CONFLICT: 503,
  INTERNAL: 500,
};

export interface HttpAnswer {
  status: number;
  code: ErrorCode;
  message: string;
  headers: Record<string, string>;
  /** Fields of the error body beside code and message. */
  details: Record<string, unknown>;
}

/** The HTTP answer for any error: typed errors by their code, anything else a logged 500. */
export function httpAnswer(err: unknown): HttpAnswer {
  if (!(err instanceof TidemarkError)) {
    const message = err instanceof Error ? err.message : String(err);
    return {
      status: 500,
      code: "INTERNAL",
      message: `internal error: ${message}`,
      headers: {},
      details: {},
    };
  }
  const { code, context } = err;
  return {
    status: HTTP_STATUS[code],
    code,
    message: err.message,
    headers: headersFor(code, context),
    details: code === "ALREADY_CLAIMED" ? pick(context, ["current_holder", "generation"]) : {},
  };
}

/** Headers the protocol asks for with some errors, from the error's context. */
function headersFor(code: ErrorCode, context: ErrorContext): Record<string, string> {
  switch (code) {
    case "CLOSED":
    case "DISK_FULL":
    case "SHUTTING_DOWN":
    case "TOO_MANY_LIVE_READERS":
    case "STORE_UNAVAILABLE":
    case "STORE_CONFLICT":
      return { "retry-after": "1" };
    case "SERVER_BUSY":
      return { "retry-after": "1", connection: "close" };
    case "BODY_TOO_LARGE":
    case "REQUEST_TIMEOUT":
      return { connection: "close" };
    case "UNAUTHORIZED":
      return {
        "www-authenticate":
          context["invalidToken"] === true
            ? 'Bearer realm="tidemark", error="invalid_token"'
            : 'Bearer realm="tidemark"',
      };
    case "METHOD_NOT_ALLOWED":
      return typeof context["allow"] === "string" ? { allow: context["allow"] } : {};
    case "STREAM_CLOSED":
      return typeof context["nextOffset"] === "string"
        ? { "stream-next-offset": context["nextOffset"], "stream-closed": "true" }
        : { "stream-closed": "true" };
    case "PRODUCER_FENCED":
      return { "producer-epoch": String(context["currentEpoch"]) };
    case "PRODUCER_SEQ_GAP":
      return {
        "producer-expected-seq": String(context["expectedSeq"]),
        "producer-received-seq": String(context["receivedSeq"]),
      };
    default:
      return {};
  }
}

function pick(context: ErrorContext, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) if (key in context) out[key] = context[key];
  return out;
}
