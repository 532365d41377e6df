import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { streamIdentity, validateStreamName } from "../../../src/storage/stream/stream-name.js";

describe("stream names", () => {
  it("accept any well-formed name of 1-255 UTF-8 bytes without NUL, and map it to a safe directory", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", minLength: 1, maxLength: 60 }), (raw) => {
        const name = raw.replaceAll("\u0000", "");
        fc.pre(name.length > 0 && Buffer.byteLength(name) <= 255);
        expect(validateStreamName(name)).toBe(name);
        const { dirName } = streamIdentity(name);
        expect(dirName).toMatch(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}-[0-9a-f]{32}$/);
        expect(dirName).not.toMatch(/^\.\.?$/);
      }),
      { numRuns: 3000 },
    );
  });

  it("map different names to different directories, whatever their slugs", () => {
    const names = ["a/b", "a_b", "a b", "a\\b", "A/B", "../a/b", "a/b/", "ａ/ｂ"];
    const dirs = new Set(names.map((name) => streamIdentity(name).dirName));
    expect(dirs.size).toBe(names.length);
  });

  it("reject names that are empty, too long, not strings, with NUL or lone surrogates", () => {
    for (const bad of [
      "",
      "é".repeat(128),
      "x".repeat(256),
      "a\u0000",
      "\udc00x",
      undefined,
      7,
      null,
    ]) {
      expect(() => validateStreamName(bad)).toThrow(
        expect.objectContaining({ code: "INVALID_NAME" }),
      );
    }
    expect(validateStreamName("😀".repeat(63))).toHaveLength(126); // 252 bytes: a surrogate pair each
  });
});
