/**
 * Stream names and the directory names derived from them (docs/format.md §3). A name is never
 * used as a path: the directory is a sanitized slug plus a SHA-256 prefix, so `../x`, `a/b`,
 * spaces and non-ASCII names all stay inside `streams/`.
 */
import { createHash } from "node:crypto";
import { InvalidNameError } from "../../errors.js";

export const STREAM_NAME_BYTES_MAX = 255;
const SLUG_BYTES_MAX = 32;
const HASH_HEX_DIGITS = 32;
/** In `u` mode a surrogate pair is one code point, so this matches only unpaired halves. */
const LONE_SURROGATE = /\p{Surrogate}/u;

export function validateStreamName(name: unknown): string {
  if (typeof name !== "string") {
    throw new InvalidNameError(`a stream name must be a string, got ${typeof name}`);
  }
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes < 1 || bytes > STREAM_NAME_BYTES_MAX) {
    throw new InvalidNameError(
      `a stream name must be 1-${STREAM_NAME_BYTES_MAX} bytes of UTF-8, got ${bytes} bytes`,
      { stream: bytes > STREAM_NAME_BYTES_MAX ? `${name.slice(0, 64)}…` : name },
    );
  }
  if (LONE_SURROGATE.test(name)) {
    throw new InvalidNameError("a stream name must be well-formed Unicode (no lone surrogates)", {
      stream: name.replace(/\p{Surrogate}/gu, "\uFFFD"),
    });
  }
  if (name.includes("\u0000")) {
    throw new InvalidNameError("a stream name must not contain NUL", { stream: name });
  }
  return name;
}

export interface StreamIdentity {
  dirName: string;
  /** First 4 bytes of SHA-256(name), stamped into every segment header (§4.1). */
  tag: number;
}

export function streamIdentity(name: string): StreamIdentity {
  const digest = createHash("sha256").update(name, "utf8").digest();
  const utf8 = Buffer.from(name, "utf8").subarray(0, SLUG_BYTES_MAX);
  let slug = "";
  for (const byte of utf8) {
    const char = String.fromCharCode(byte);
    slug += /[A-Za-z0-9._-]/.test(char) && byte < 0x80 ? char : "_";
  }
  if (slug.startsWith(".") || slug.startsWith("-")) slug = `_${slug.slice(1)}`;
  const hash = digest.subarray(0, HASH_HEX_DIGITS / 2).toString("hex");
  return { dirName: `${slug}-${hash}`, tag: digest.readUInt32LE(0) };
}
