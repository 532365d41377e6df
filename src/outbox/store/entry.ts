/**
 * Outbox entries: what `enqueue` accepts, how it is checked, and what is stored with each entry
 * (the record's attributes, JSON; docs/format.md §13). The body is the record's payload.
 */
import { InvalidArgumentError } from "../../errors.js";

export type Precondition =
  /** `If-Match` with an ETag captured when the entry was made (preferred: exact). */
  | { ifMatch: string }
  /** `If-Unmodified-Since` (HTTP dates have one-second resolution: prefer `ifMatch`). */
  | { ifUnmodifiedSince: Date | number | string };

export interface OutboxEntryInput {
  /** Entries with the same key are delivered one at a time, in enqueue order. */
  key?: string;
  /** Default `POST`. */
  method?: string;
  /** A path under the upstream's base URL (`/items/42?x=1`); default `/`. */
  target?: string;
  headers?: Record<string, string>;
  body: Uint8Array | string;
  precondition?: Precondition;
}

/** A precondition as stored: an ETag, or an HTTP date. */
export type StoredPrecondition = { ifMatch: string } | { ifUnmodifiedSince: string };

export interface EntryMeta {
  /** The entry's id; null on a first enqueue, where the id is the record's seq. */
  id: string | null;
  /** 0, then one more for every retry of a conflict or dead letter. */
  gen: number;
  key: string | null;
  method: string;
  target: string;
  headers: Record<string, string>;
  precondition: StoredPrecondition | null;
  /** When the entry was first enqueued (ms): its age counts from here, across retries. */
  enqueuedAt: number;
  /** The seq of the held record this entry retries, or null. */
  retryOf: number | null;
}

export const METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const KEY_BYTES_MAX = 512;
const TARGET_CHARS_MAX = 2048;
const HEADERS_MAX = 64;
const HEADER_BYTES_MAX = 16 * 1024;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const ENTITY_TAG = /^(\*|(W\/)?"[\x21\x23-\x7e\x80-\xff]*")$/;
/** Headers the outbox or the upstream sets, or that would break the request. */
const RESERVED_HEADERS = new Set([
  "authorization",
  "connection",
  "content-length",
  "expect",
  "host",
  "idempotency-key",
  "if-match",
  "if-unmodified-since",
  "keep-alive",
  "producer-epoch",
  "producer-id",
  "producer-seq",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Checks an entry; returns what is stored with it and its body as bytes. */
export function checkEntry(
  input: OutboxEntryInput,
  bodyBytesMax: number,
  enqueuedAt: number,
): { meta: EntryMeta; body: Uint8Array } {
  if (typeof input !== "object" || input === null) {
    throw new InvalidArgumentError("an outbox entry must be an object with a body");
  }
  const body =
    typeof input.body === "string"
      ? Buffer.from(input.body, "utf8")
      : input.body instanceof Uint8Array
        ? input.body
        : undefined;
  if (body === undefined) {
    throw new InvalidArgumentError("an outbox entry's body must be a Uint8Array or a string");
  }
  if (body.byteLength > bodyBytesMax) {
    throw new InvalidArgumentError(
      `the body is ${body.byteLength} bytes; this outbox takes at most ${bodyBytesMax}`,
      { bytes: body.byteLength },
    );
  }
  return {
    meta: {
      id: null,
      gen: 0,
      key: checkKey(input.key),
      method: checkMethod(input.method),
      target: checkTarget(input.target),
      headers: checkHeaders(input.headers),
      precondition: checkPrecondition(input.precondition),
      enqueuedAt,
      retryOf: null,
    },
    body,
  };
}

function checkKey(key: unknown): string | null {
  if (key === undefined) return null;
  if (typeof key !== "string" || key.length === 0 || Buffer.byteLength(key) > KEY_BYTES_MAX) {
    throw new InvalidArgumentError(`an entry key must be a string of 1–${KEY_BYTES_MAX} bytes`);
  }
  return key;
}

function checkMethod(method: unknown): string {
  if (method === undefined) return "POST";
  if (typeof method !== "string" || !METHODS.has(method.toUpperCase())) {
    throw new InvalidArgumentError(
      `method must be one of ${[...METHODS].join(", ")}, got ${JSON.stringify(method)}`,
    );
  }
  return method.toUpperCase();
}

function checkTarget(target: unknown): string {
  if (target === undefined) return "/";
  if (
    typeof target !== "string" ||
    !target.startsWith("/") ||
    target.startsWith("//") ||
    target.length > TARGET_CHARS_MAX ||
    /[\s\\#]/.test(target)
  ) {
    throw new InvalidArgumentError(
      `target must be a path under the upstream's base URL (starting with one '/', no spaces, at most ${TARGET_CHARS_MAX} characters), got ${JSON.stringify(target)}`,
    );
  }
  return target;
}

export function checkHeaders(headers: unknown): Record<string, string> {
  if (headers === undefined) return {};
  if (typeof headers !== "object" || headers === null || Array.isArray(headers)) {
    throw new InvalidArgumentError("headers must be an object of header names to strings");
  }
  const out: Record<string, string> = {};
  let bytes = 0;
  const entries = Object.entries(headers as Record<string, unknown>);
  if (entries.length > HEADERS_MAX) {
    throw new InvalidArgumentError(`an entry may carry at most ${HEADERS_MAX} headers`);
  }
  for (const [name, value] of entries) {
    const lower = name.toLowerCase();
    if (!TOKEN.test(name) || typeof value !== "string" || !HEADER_VALUE.test(value)) {
      throw new InvalidArgumentError(`header ${JSON.stringify(name)} is not a valid HTTP header`);
    }
    if (RESERVED_HEADERS.has(lower) || lower.startsWith("proxy-")) {
      throw new InvalidArgumentError(
        `header ${JSON.stringify(name)} is set by the outbox or the upstream (use precondition for If-Match)`,
      );
    }
    bytes += lower.length + value.length;
    out[lower] = value;
  }
  if (bytes > HEADER_BYTES_MAX) {
    throw new InvalidArgumentError(
      `an entry's headers may total at most ${HEADER_BYTES_MAX} bytes`,
    );
  }
  return out;
}

export function checkPrecondition(precondition: unknown): StoredPrecondition | null {
  if (precondition === undefined || precondition === null) return null;
  if (typeof precondition !== "object") {
    throw new InvalidArgumentError("precondition must be { ifMatch } or { ifUnmodifiedSince }");
  }
  const given = precondition as Record<string, unknown>;
  if ("ifMatch" in given) {
    const tag = given["ifMatch"];
    if (typeof tag !== "string" || !ENTITY_TAG.test(tag)) {
      throw new InvalidArgumentError(
        `ifMatch must be an entity tag such as "\\"abc\\"" or W/"abc", got ${JSON.stringify(tag)}`,
      );
    }
    return { ifMatch: tag };
  }
  if ("ifUnmodifiedSince" in given) {
    const raw = given["ifUnmodifiedSince"];
    const ms =
      raw instanceof Date
        ? raw.getTime()
        : typeof raw === "number"
          ? raw
          : typeof raw === "string"
            ? Date.parse(raw)
            : Number.NaN;
    if (!Number.isFinite(ms) || ms < 0) {
      throw new InvalidArgumentError(
        `ifUnmodifiedSince must be a Date, ms since the epoch, or an HTTP date, got ${JSON.stringify(raw)}`,
      );
    }
    return { ifUnmodifiedSince: new Date(ms).toUTCString() };
  }
  throw new InvalidArgumentError("precondition must be { ifMatch } or { ifUnmodifiedSince }");
}

export function encodeMeta(meta: EntryMeta): Uint8Array {
  return Buffer.from(JSON.stringify(meta), "utf8");
}

/** The stored meta, or undefined when the attributes are not an outbox entry's. */
export function decodeMeta(attributes: Uint8Array | undefined): EntryMeta | undefined {
  if (attributes === undefined) return undefined;
  try {
    const meta = JSON.parse(Buffer.from(attributes).toString("utf8")) as EntryMeta;
    return typeof meta === "object" && meta !== null && typeof meta.method === "string"
      ? meta
      : undefined;
  } catch {
    return undefined;
  }
}
