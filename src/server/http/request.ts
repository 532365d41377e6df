/**
 * Reading what a request says: the stream path, query parameters and headers, each with one
 * rule. The request target is taken as sent (a `\` stays a `\`, nothing is resolved), a stream
 * path names exactly one stream (NFC only, no `.` or `..` segments, no encoded `/` or NUL), a
 * protocol header given twice with different values is refused (a proxy may read the other
 * one), and every numeric header has the same strict integer syntax.
 */

import type { IncomingMessage } from "node:http";
import { type ErrorCode, TidemarkError } from "../../errors.js";
import { STREAM_NAME_BYTES_MAX } from "../../storage/index.js";
import type { ProducerTuple } from "../streams/producer-state.js";

export const STREAM_PREFIX = "/v1/stream/";

export interface ParsedUrl {
  /** The path as sent, still percent-encoded. */
  pathname: string;
  query: URLSearchParams;
}

const ABSOLUTE_FORM = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/;

/**
 * The path and query of the request target, taken as sent: unlike the WHATWG URL parser,
 * nothing turns `\` into `/` or resolves `..`, so the server sees the name the client wrote.
 * (Node has already refused targets with spaces, control characters or raw non-ASCII bytes.)
 */
export function parseUrl(req: IncomingMessage): ParsedUrl {
  let target = req.url ?? "/";
  if (!target.startsWith("/")) {
    const authority = ABSOLUTE_FORM.exec(target); // absolute-form, RFC 9112 §3.2.2
    target = authority === null ? `/${target}` : target.slice(authority[0].length);
    if (!target.startsWith("/")) target = `/${target}`;
  }
  const hash = target.indexOf("#");
  if (hash >= 0) target = target.slice(0, hash);
  const mark = target.indexOf("?");
  if (mark < 0) return { pathname: target, query: new URLSearchParams() };
  return { pathname: target.slice(0, mark), query: new URLSearchParams(target.slice(mark + 1)) };
}

/** One percent-encoded path segment, decoded; INVALID_NAME if it is not valid UTF-8. */
export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new TidemarkError(
      "INVALID_NAME",
      "the path is not valid percent-encoding of UTF-8 (check every '%')",
    );
  }
}

/**
 * The stream path in a request path: what follows `/v1/stream/`, percent-decoded segment by
 * segment. Two different URLs never name one stream: a segment that decodes to contain `/` or
 * NUL is refused, `.` and `..` segments are refused (they are not resolved), and a name must be
 * in Unicode NFC (composed: `café` as U+00E9), so two spellings of one name cannot make two
 * streams.
 */
export function streamPathOf(pathname: string): string {
  const raw = pathname.slice(STREAM_PREFIX.length);
  if (raw.length === 0) throw new TidemarkError("NOT_FOUND", "no stream path given");
  // `a/` and `a` (or `a//b` and `a/b`) would be two streams a reader takes for one.
  if (raw.endsWith("/") || raw.startsWith("/") || raw.includes("//")) {
    throw new TidemarkError(
      "INVALID_NAME",
      "a stream path may not end with '/' or hold an empty segment ('//')",
    );
  }
  const segments = raw.split("/").map((segment) => {
    const decoded = decodeSegment(segment);
    if (decoded.includes("/") || decoded.includes("\u0000")) {
      throw new TidemarkError("INVALID_NAME", "a stream path segment may not encode '/' or NUL");
    }
    if (decoded === "." || decoded === "..") {
      throw new TidemarkError("INVALID_NAME", "a stream path may not have '.' or '..' segments");
    }
    return decoded;
  });
  return checkStreamPath(segments.join("/"));
}

/** A stream path from anywhere (a URL, a subscription's list): its length and its form. */
export function checkStreamPath(path: string): string {
  if (Buffer.byteLength(path) > STREAM_NAME_BYTES_MAX) {
    throw new TidemarkError(
      "INVALID_NAME",
      `a stream path may be at most ${STREAM_NAME_BYTES_MAX} bytes`,
    );
  }
  if (/[^\u0000-\u007f]/.test(path)) {
    const nfc = path.normalize("NFC");
    if (nfc !== path) {
      throw new TidemarkError(
        "INVALID_NAME",
        `stream names must be in Unicode NFC; send ${JSON.stringify(nfc)} (percent-encoded)`,
      );
    }
  }
  return path;
}

/** Headers of the protocol that carry one value: repeating one with another value is refused. */
const SINGLE_VALUED = [
  "authorization",
  "content-type",
  "if-none-match",
  "stream-seq",
  "stream-ttl",
  "stream-expires-at",
  "stream-closed",
  "stream-forked-from",
  "stream-fork-offset",
  "stream-fork-sub-offset",
  "producer-id",
  "producer-epoch",
  "producer-seq",
];
const SINGLE_VALUED_SET = new Set(SINGLE_VALUED);

/**
 * Refuses a request that gives one of the protocol's headers twice with different values (Node
 * keeps the first Content-Type, a proxy in front may act on the last). The same value twice
 * counts once.
 */
export function refuseConflictingHeaders(req: IncomingMessage): void {
  const raw = req.rawHeaders;
  // Without a repeated name, Node keeps one entry per header (the common case, checked cheaply).
  if (raw.length / 2 === Object.keys(req.headers).length) return;
  const seen = new Map<string, string>();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!SINGLE_VALUED_SET.has(name)) continue;
    const value = raw[i + 1]!.trim();
    const first = seen.get(name);
    if (first === undefined) seen.set(name, value);
    else if (first !== value) {
      throw new TidemarkError(
        "INVALID_REQUEST",
        `the ${name} header is given more than once with different values`,
      );
    }
  }
  // Node joins repeats of most headers with ", ": keep the one value instead.
  for (const [name, value] of seen) req.headers[name] = value;
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  if (Array.isArray(value)) return value.join(", ");
  return value;
}

export function isTrue(value: string | undefined): boolean {
  return value !== undefined && value.trim().toLowerCase() === "true";
}

const INTEGER = /^(0|[1-9][0-9]*)$/;

/**
 * The one integer syntax of every numeric header (PROTOCOL.md §5.1's rule for Stream-TTL):
 * decimal digits, no sign, no leading zeros, no fraction or exponent, within `[min, max]`.
 */
export function parseInteger(
  name: string,
  value: string,
  code: ErrorCode,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const number = Number(value);
  if (!INTEGER.test(value) || !Number.isSafeInteger(number) || number < min || number > max) {
    throw new TidemarkError(
      code,
      `${name} must be a whole number from ${min} to ${max}, written without sign or leading zeros; got ${JSON.stringify(value.slice(0, 64))}`,
    );
  }
  return number;
}

/** A Stream-TTL that expires a stream at once, or ten years on, is a mistake, not a setting. */
export const STREAM_TTL_SECONDS_MAX = 10 * 365 * 24 * 3600;

/** `Stream-TTL`: seconds, 1 to ten years. */
export function parseTtl(value: string | undefined): number | null {
  if (value === undefined) return null;
  return parseInteger("Stream-TTL", value, "INVALID_TTL", 1, STREAM_TTL_SECONDS_MAX);
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/**
 * `Stream-Expires-At`: an RFC 3339 time that exists (no February 30th, no hour 24, no leap
 * second, which JavaScript dates cannot hold) and is in the future; stored as given.
 */
export function parseExpiresAt(value: string | undefined, nowMs: number): string | null {
  if (value === undefined) return null;
  const ms = rfc3339Ms(value);
  if (ms === undefined) {
    throw new TidemarkError(
      "INVALID_EXPIRES_AT",
      `Stream-Expires-At must be an RFC 3339 time such as 2030-01-31T12:00:00Z, got ${JSON.stringify(value.slice(0, 64))}`,
    );
  }
  if (ms <= nowMs) {
    throw new TidemarkError(
      "INVALID_EXPIRES_AT",
      `Stream-Expires-At ${value} is not in the future: the stream would expire at once`,
    );
  }
  return value;
}

/** Milliseconds since the epoch of a valid RFC 3339 time, or undefined. */
export function rfc3339Ms(value: string): number | undefined {
  const match = RFC3339.exec(value);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate(); // leap year: Feb has 29
  const leapFeb = month === 2 && day === 29 && !isLeapYear(year);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || leapFeb) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMs = 0;
  if (match[8] !== undefined) {
    const offsetHours = Number(match[9]);
    const offsetMinutes = Number(match[10]);
    if (offsetHours > 23 || offsetMinutes > 59) return undefined;
    offsetMs = (match[8] === "-" ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  }
  const fractionMs = match[7] === undefined ? 0 : Math.floor(Number(match[7]) * 1000);
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, fractionMs);
  return utc.getTime() - offsetMs;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

export function parseSubOffset(value: string | undefined): number {
  if (value === undefined) return 0;
  return parseInteger("Stream-Fork-Sub-Offset", value, "INVALID_SUB_OFFSET");
}

/** `Producer-Id/Epoch/Seq`: all three or none. */
export function parseProducer(req: IncomingMessage): ProducerTuple | undefined {
  const id = header(req, "producer-id");
  const epoch = header(req, "producer-epoch");
  const seq = header(req, "producer-seq");
  if (id === undefined && epoch === undefined && seq === undefined) return undefined;
  if (id === undefined || epoch === undefined || seq === undefined) {
    throw new TidemarkError(
      "INVALID_PRODUCER",
      "Producer-Id, Producer-Epoch and Producer-Seq go together",
    );
  }
  if (id.length === 0) throw new TidemarkError("INVALID_PRODUCER", "Producer-Id may not be empty");
  return {
    id,
    epoch: parseInteger("Producer-Epoch", epoch, "INVALID_PRODUCER"),
    seq: parseInteger("Producer-Seq", seq, "INVALID_PRODUCER"),
  };
}
