/**
 * The streaming JSON splitter against the reference it must agree with: JSON.parse over strictly
 * decoded UTF-8. It accepts exactly what that accepts (within its depth limit), finds the same
 * messages, keeps each message's bytes as sent, and gives the same answer however the body is cut
 * into chunks.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TidemarkError } from "../../../src/errors.js";
import {
  type JsonMessages,
  JsonSplitter,
  recordMessages,
  splitJson,
} from "../../../src/server/streams/json-splitter.js";

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** What JSON.parse says of the bytes: the messages' values, or undefined if it refuses them. */
function reference(body: Uint8Array): unknown[] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(strict.decode(body));
  } catch {
    return undefined;
  }
  return Array.isArray(value) ? value : [value];
}

function texts(body: Uint8Array, messages: JsonMessages): string[] {
  const out: string[] = [];
  for (let i = 0; i < messages.count; i++) {
    const start = messages.bounds[2 * i]!;
    const end = messages.bounds[2 * i + 1]!;
    out.push(Buffer.from(body.subarray(start, end)).toString("utf8"));
  }
  return out;
}

function tryChunked(body: Uint8Array, cuts: number[]): JsonMessages | TidemarkError {
  const splitter = new JsonSplitter();
  let at = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    const end = Math.min(cut, body.byteLength);
    splitter.write(body.subarray(at, Math.max(at, end)));
    at = Math.max(at, end);
  }
  splitter.write(body.subarray(at));
  try {
    return splitter.finish();
  } catch (err) {
    if (err instanceof TidemarkError) return err;
    throw err;
  }
}

const whitespace = fc.constantFrom("", " ", "\n", "\t", "\r\n  ");

/** A JSON text with random whitespace between tokens, as clients may send it. */
function spaced(value: unknown, ws: () => string): string {
  if (Array.isArray(value)) {
    return `[${ws()}${value.map((v) => `${ws()}${spaced(v, ws)}${ws()}`).join(",")}${ws()}]`;
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).map(
      ([k, v]) => `${ws()}${JSON.stringify(k)}${ws()}:${ws()}${spaced(v, ws)}${ws()}`,
    );
    return `{${ws()}${entries.join(",")}${ws()}}`;
  }
  return JSON.stringify(value);
}

describe("JsonSplitter", () => {
  it("splits any JSON text into the same messages as JSON.parse, each its own bytes", () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.array(whitespace, { minLength: 1, maxLength: 16 }),
        fc.array(fc.nat(4000), { maxLength: 6 }),
        (value, spaces, cuts) => {
          let k = 0;
          const text = `${spaces[0]}${spaced(value, () => spaces[k++ % spaces.length]!)}\n`;
          const body = Buffer.from(text);
          const result = tryChunked(body, cuts);
          expect(result).not.toBeInstanceOf(TidemarkError);
          const messages = result as JsonMessages;
          const expected = reference(body)!;
          expect(messages.array).toBe(Array.isArray(value));
          const found = texts(body, messages);
          expect(found.map((t) => JSON.parse(t))).toEqual(expected);
          // Each message is a slice of the body with no whitespace around it.
          for (const t of found) expect(t.trim()).toBe(t);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("accepts exactly the byte strings JSON.parse accepts", () => {
    const alphabet = fc.constantFrom(
      ...'[]{}:,"\\/ -+.eE0123456789truefalsnul\t\n\u00e9'.split(""),
      "\\u00e9",
      "\\ud800",
      "1e999",
    );
    const bytes = fc.oneof(
      fc.array(alphabet, { maxLength: 30 }).map((parts) => Buffer.from(parts.join(""))),
      fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b)),
      fc
        .tuple(fc.jsonValue(), fc.uint8Array({ minLength: 1, maxLength: 3 }), fc.nat())
        .map(([value, junk, at]) => {
          const text = Buffer.from(JSON.stringify(value));
          const cut = text.byteLength === 0 ? 0 : at % text.byteLength;
          return Buffer.concat([text.subarray(0, cut), junk, text.subarray(cut)]);
        }),
    );
    fc.assert(
      fc.property(bytes, fc.array(fc.nat(40), { maxLength: 4 }), (body, cuts) => {
        const expected = reference(body);
        const result = tryChunked(body, cuts);
        if (expected === undefined) {
          expect(result).toBeInstanceOf(TidemarkError);
          expect((result as TidemarkError).code).toBe("INVALID_JSON");
        } else {
          expect(result).not.toBeInstanceOf(TidemarkError);
          expect(texts(body, result as JsonMessages).map((t) => JSON.parse(t))).toEqual(expected);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it("keeps numbers, duplicate keys and escapes exactly as sent", () => {
    const body = Buffer.from(
      '[123456789012345678901234567890, 1e999, {"a":1,"a":2}, "\\u00e9\\ud83d", -0.0E+00]',
    );
    expect(texts(body, splitJson(body))).toEqual([
      "123456789012345678901234567890",
      "1e999",
      '{"a":1,"a":2}',
      '"\\u00e9\\ud83d"',
      "-0.0E+00",
    ]);
  });

  it("refuses malformed UTF-8: overlong forms, surrogates, code points past U+10FFFF, stray bytes", () => {
    for (const bad of [
      [0xc0, 0x80],
      [0xe0, 0x80, 0x80],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xf5, 0x80, 0x80, 0x80],
      [0x80],
      [0xe2, 0x82],
    ]) {
      const body = Buffer.concat([Buffer.from('["'), Buffer.from(bad), Buffer.from('"]')]);
      expect(() => splitJson(body)).toThrow(/not valid UTF-8|not valid JSON/);
    }
    const fine = Buffer.from('["é€😀"]');
    expect(texts(fine, splitJson(fine))).toEqual(['"é€😀"']);
  });

  it("refuses nesting past depthMax with JSON_TOO_DEEP, without recursing", () => {
    const deep = Buffer.from(`${"[".repeat(1_000_000)}${"]".repeat(1_000_000)}`);
    expect(() => splitJson(deep)).toThrow(expect.objectContaining({ code: "JSON_TOO_DEEP" }));
    const ok = Buffer.from(`[${"[".repeat(511)}${"]".repeat(511)}]`);
    expect(splitJson(ok).count).toBe(1);
  });

  it("refuses more than messagesMax messages with BATCH_TOO_LARGE", () => {
    const body = Buffer.from(`[${"1,".repeat(10)}1]`);
    expect(() => splitJson(body, { messagesMax: 10 })).toThrow(
      expect.objectContaining({ code: "BATCH_TOO_LARGE" }),
    );
    expect(splitJson(body, { messagesMax: 11 }).count).toBe(11);
  });

  it("keeps the first problem and ignores the rest of the body", () => {
    const splitter = new JsonSplitter();
    splitter.write(Buffer.from('[1, }, "'));
    expect(splitter.error?.code).toBe("INVALID_JSON");
    splitter.write(Buffer.from("[".repeat(10_000)));
    expect(() => splitter.finish()).toThrow(/expected a JSON value at byte 4/);
  });

  it("reads old comma-joined records and new single-message records alike", () => {
    const old = Buffer.from('{"n":1},{"n":2},[3]');
    expect(recordMessages(old).map((b) => b.toString())).toEqual(['{"n":1}', '{"n":2}', "[3]"]);
    const one = Buffer.from("[1,2]");
    expect(recordMessages(one).map((b) => b.toString())).toEqual(["[1,2]"]);
  });
});
