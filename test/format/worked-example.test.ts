import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { RECORD_FLAG_COMMIT, RECORD_HEADER_BYTES } from "../../src/format/constants.js";
import { encodeRecord } from "../../src/format/record.js";
import { encodeSegmentHeader } from "../../src/format/segment-header.js";
import { streamIdentity } from "../../src/storage/stream/stream-name.js";

/** The hex dump in docs/format.md §5, as bytes. */
function workedExampleFromDocs(): Buffer {
  const doc = readFileSync(new URL("../../docs/format.md", import.meta.url), "utf8");
  const section = doc.slice(doc.indexOf("## §5"), doc.indexOf("## §6"));
  const block = section.slice(section.indexOf("```") + 3, section.lastIndexOf("```"));
  let hex = "";
  for (const line of block.split("\n")) {
    const match = /^[0-9a-f]{8}: (.*?)(?: {2,}.*)?$/.exec(line.trim());
    if (match) hex += match[1]!.replace(/\s+/g, "");
  }
  return Buffer.from(hex, "hex");
}

describe("docs/format.md §5 worked example", () => {
  it("is exactly what the encoder writes", () => {
    const createdAtMs = Date.UTC(2026, 0, 1);
    const { tag, dirName } = streamIdentity("demo");
    expect(dirName).toBe("demo-2a97516c354b68848cdbd8f54a226a0a");
    const header = encodeSegmentHeader(1, createdAtMs, tag);
    const record = Buffer.alloc(RECORD_HEADER_BYTES + 5);
    encodeRecord(record, 0, 1, createdAtMs + 5, RECORD_FLAG_COMMIT, undefined, "hello", 5);
    const fromDocs = workedExampleFromDocs();
    expect(fromDocs.byteLength).toBe(65);
    expect(Buffer.concat([header, record]).toString("hex")).toBe(fromDocs.toString("hex"));
  });
});
