import { TidemarkError } from "../../errors.js";
/**
 * Content types (PROTOCOL.md §9): stored and echoed verbatim, compared case-insensitively
 * without parameters. `application/json` streams are in JSON mode: an append of a JSON array
 * stores its elements as messages, and reads return one JSON array. Every other type is bytes.
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
 * A JSON append body as stored: the messages' JSON texts joined with commas, so that reads can
 * answer `[` + units joined with `,` + `]` without parsing. A top-level array is one level of
 * messages; any other value is one message. An empty array is an error unless `allowEmpty`.
 */
export function encodeJsonAppend(
  body: Buffer,
  allowEmpty: boolean,
): { unit: string; count: number } {
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw new TidemarkError(
      "INVALID_JSON",
      `the body is not valid JSON: ${(err as Error).message}`,
    );
  }
  const values = Array.isArray(value) ? value : [value];
  if (values.length === 0 && !allowEmpty) {
    throw new TidemarkError("EMPTY_JSON_ARRAY", "an append of an empty JSON array adds nothing");
  }
  return {
    unit: values.map((item) => JSON.stringify(item) ?? "null").join(","),
    count: values.length,
  };
}

/** The first `count` messages of a stored JSON unit (for sub-offset forks), or undefined. */
export function jsonUnitPrefix(unit: Buffer, count: number): { unit: string; available: number } {
  const values = JSON.parse(`[${unit.toString("utf8")}]`) as unknown[];
  return {
    unit: values
      .slice(0, count)
      .map((item) => JSON.stringify(item))
      .join(","),
    available: values.length,
  };
}

export function jsonArray(units: Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from("[")];
  for (let i = 0; i < units.length; i++) {
    if (i > 0) parts.push(Buffer.from(","));
    parts.push(units[i]!);
  }
  parts.push(Buffer.from("]"));
  return Buffer.concat(parts);
}
