/**
 * `GET /v1/messages/<path>`: a page of one stream's messages for people, with their seqs,
 * offsets and times (what the protocol's reads do not show), from the start, after a seq, after
 * an offset, from a time, or the page before a seq. Each payload is previewed (its first
 * PREVIEW_BYTES_MAX bytes) as JSON text, UTF-8 text, or base64 of the bytes, and a page holds at
 * most PAGE_BYTES_MAX of previews (always at least one message), so a page of huge records stays
 * small. Only the stream's own records are shown (a fork's inherited ones are its source's).
 * A cursor below what retention still holds starts at the first held record, not an error:
 * this is browsing, not a resumable read. Everything is read through the store interface, so
 * it pages a JetStream-backed stream (whose seqs have gaps) the same way as a journal's.
 */
import { TidemarkError } from "../../errors.js";
import type { StoredRecord } from "../store/stream-store.js";
import { isJsonType } from "../streams/content-type.js";
import type { DsStream } from "../streams/ds-stream.js";
import { formatOffset, parseOffset } from "../streams/offsets.js";
import type { MessagePage, MessageView, PayloadEncoding } from "./wire-types.js";

export const MESSAGES_LIMIT_DEFAULT = 50;
export const MESSAGES_LIMIT_MAX = 500;
export const PREVIEW_BYTES_MAX = 64 * 1024;
export const PAGE_BYTES_MAX = 2 * 1024 * 1024;

type Start =
  | { kind: "after"; seq: number }
  | { kind: "before"; seq: number }
  | { kind: "time"; ms: number };

export async function messagePage(ds: DsStream, query: URLSearchParams): Promise<MessagePage> {
  const { start, limit } = parseQuery(query, ds.base);
  const { firstSeq, lastSeq } = ds.stored.describe();
  const heldFrom = firstSeq - 1;
  const read = await records(ds, start, heldFrom, lastSeq, limit);
  const json = isJsonType(ds.meta.contentType);
  const messages: MessageView[] = [];
  let bytes = 0;
  for await (const record of read) {
    const payload = record.payload;
    const preview = payload.subarray(0, PREVIEW_BYTES_MAX);
    if (messages.length > 0 && bytes + preview.byteLength > PAGE_BYTES_MAX) break;
    bytes += preview.byteLength;
    messages.push({
      seq: record.seq,
      offset: formatOffset(ds.base + record.seq),
      timestamp: record.timestamp ?? 0,
      bytes: payload.byteLength,
      ...encode(preview, json),
      truncated: preview.byteLength < payload.byteLength,
    });
    if (messages.length >= limit) break;
  }
  const first = messages[0];
  const last = messages.at(-1);
  return {
    stream: ds.path,
    firstSeq,
    lastSeq,
    messages,
    next: last !== undefined && last.seq < lastSeq ? last.seq : null,
    previous: first !== undefined && first.seq > firstSeq ? first.seq : null,
  };
}

/** The records a start asks for: from a time, after a seq, or the `limit` before a seq. */
async function records(
  ds: DsStream,
  start: Start,
  heldFrom: number,
  lastSeq: number,
  limit: number,
): Promise<Iterable<StoredRecord> | AsyncIterable<StoredRecord>> {
  if (start.kind === "time") return ds.stored.readFromTime(start.ms);
  if (start.kind === "after") return ds.stored.read(clamp(start.seq, heldFrom, lastSeq));
  return ds.stored.recordsBefore(Math.min(start.seq, lastSeq + 1), limit);
}

function parseQuery(query: URLSearchParams, base: number): { start: Start; limit: number } {
  const given = ["after", "before", "offset", "fromTime"].filter((name) => query.has(name));
  if (given.length > 1) {
    throw new TidemarkError("INVALID_REQUEST", `give one of after, before, offset, fromTime`);
  }
  const limitText = query.get("limit");
  const limit = limitText === null ? MESSAGES_LIMIT_DEFAULT : wholeNumber("limit", limitText);
  if (limit < 1 || limit > MESSAGES_LIMIT_MAX) {
    throw new TidemarkError("INVALID_REQUEST", `limit must be 1–${MESSAGES_LIMIT_MAX}`);
  }
  const value = given[0] === undefined ? undefined : query.get(given[0])!;
  switch (given[0]) {
    case "after":
      return { start: { kind: "after", seq: wholeNumber("after", value!) }, limit };
    case "before":
      return { start: { kind: "before", seq: wholeNumber("before", value!) }, limit };
    case "offset": {
      const position = value === "-1" ? 0 : parseOffset(value!);
      if (position === undefined) {
        throw new TidemarkError("INVALID_REQUEST", "offset is not an offset this server returned");
      }
      return { start: { kind: "after", seq: Math.max(0, position - base) }, limit };
    }
    case "fromTime": {
      const ms = /^\d+$/.test(value!) ? Number(value) : Date.parse(value!);
      if (!Number.isSafeInteger(ms) || ms < 0) {
        throw new TidemarkError(
          "INVALID_REQUEST",
          "fromTime must be milliseconds since the epoch or an ISO 8601 time",
        );
      }
      return { start: { kind: "time", ms }, limit };
    }
    default:
      return { start: { kind: "after", seq: 0 }, limit };
  }
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });
/** Control characters other than tab, line feed and carriage return: shown as bytes. */
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

function encode(bytes: Uint8Array, json: boolean): { encoding: PayloadEncoding; data: string } {
  const text = utf8(bytes);
  if (text !== undefined && !CONTROL.test(text))
    return { encoding: json ? "json" : "text", data: text };
  return { encoding: "base64", data: Buffer.from(bytes).toString("base64") };
}

/** The text, or undefined if the bytes are not UTF-8 (a cut-off last character is dropped). */
function utf8(bytes: Uint8Array): string | undefined {
  for (let cut = 0; cut <= 3 && cut < bytes.byteLength; cut++) {
    try {
      return STRICT_UTF8.decode(bytes.subarray(0, bytes.byteLength - cut));
    } catch {
      if (bytes.byteLength < PREVIEW_BYTES_MAX) return undefined; // not cut: really not UTF-8
    }
  }
  return bytes.byteLength === 0 ? "" : undefined;
}

function wholeNumber(name: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) {
    throw new TidemarkError("INVALID_REQUEST", `${name} must be a whole number`);
  }
  return value;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), Math.max(low, high));
}
