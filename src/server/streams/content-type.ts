/**
 * Content types (PROTOCOL.md §9): stored and echoed verbatim, compared case-insensitively
 * without parameters. `application/json` streams are in JSON mode: an append of a JSON array
 * stores each element as its own message (json-splitter.ts finds them), and reads return one
 * JSON array. Every other type is bytes.
 */

export const DEFAULT_CONTENT_TYPE = "application/octet-stream";
const MEDIA_TYPE = /^\s*([\w!#$&^.+-]+\/[\w!#$&^.+-]+)\s*(;.*)?$/;

/** The media type in lower case, without parameters; undefined if empty or malformed. */
/** The last few answers: a server sees the same handful of content types on every request. */
const recent = new Map<string, string | undefined>();
const RECENT_MAX = 64;

export function normalizeContentType(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (recent.has(raw)) return recent.get(raw);
  const match = MEDIA_TYPE.exec(raw);
  const type = match === null ? undefined : match[1]!.toLowerCase();
  if (recent.size >= RECENT_MAX) recent.clear();
  if (raw.length <= 256) recent.set(raw, type);
  return type;
}

export function isJsonType(contentType: string): boolean {
  return normalizeContentType(contentType) === "application/json";
}

export type SseEncoding = "text" | "json" | "base64";

export function sseEncoding(contentType: string): SseEncoding {
  const type = normalizeContentType(contentType) ?? DEFAULT_CONTENT_TYPE;
  if (type === "application/json") return "json";
  if (type.startsWith("text/")) return "text";
  return "base64";
}

/**
 * A JSON read's body: `[`, the messages joined by commas, `]`, in one buffer. Each stored record
 * is one message (or, in journals written before one record per message, a POST's messages
 * already joined by commas), so the result is the same JSON array either way, built without
 * parsing anything.
 */
export function jsonArray(units: readonly Uint8Array[]): Buffer {
  let bytes = 2 + Math.max(0, units.length - 1);
  for (const unit of units) bytes += unit.byteLength;
  const out = Buffer.allocUnsafe(bytes);
  out[0] = 0x5b;
  let at = 1;
  for (let i = 0; i < units.length; i++) {
    if (i > 0) out[at++] = 0x2c;
    out.set(units[i]!, at);
    at += units[i]!.byteLength;
  }
  out[at] = 0x5d;
  return out;
}
