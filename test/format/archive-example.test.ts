/**
 * docs/format.md §15.5: the worked example of an archive is exactly what the encoders write, and
 * `tidemark import` (a real process) restores it: the record, its seq and its timestamp.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  crc32Continue,
  decodeArchiveEnd,
  decodeArchiveHeader,
  decodeArchiveStream,
  encodeArchiveEnd,
  encodeArchiveHeader,
  encodeArchiveStream,
} from "../../src/format/archive.js";
import { RECORD_FLAG_COMMIT, RECORD_HEADER_BYTES } from "../../src/format/constants.js";
import { encodeRecord } from "../../src/format/record.js";
import { Journal } from "../../src/index.js";
import { tempDir } from "../support/tmp-dir.js";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

function exampleFromDocs(): Buffer {
  const doc = readFileSync(new URL("../../docs/format.md", import.meta.url), "utf8");
  const section = doc.slice(doc.indexOf("### §15.5"));
  const block = section.slice(
    section.indexOf("```") + 3,
    section.indexOf("```", section.indexOf("```") + 3),
  );
  let hex = "";
  let expectedAt = 0;
  for (const line of block.split("\n")) {
    const match = /^([0-9a-f]{8}): (.*?)(?: {2,}.*)?$/.exec(line.trim());
    if (match === null) continue;
    // Each line's address is where its bytes start: the dump has no holes.
    expect(Number.parseInt(match[1]!, 16)).toBe(expectedAt);
    const bytes = match[2]!.replace(/\s+/g, "");
    hex += bytes;
    expectedAt += bytes.length / 2;
  }
  return Buffer.from(hex, "hex");
}

describe("docs/format.md §15.5 archive worked example", () => {
  const createdAtMs = Date.UTC(2026, 0, 1);

  it("is exactly what the encoders write", () => {
    const header = encodeArchiveHeader(createdAtMs + 1000);
    const stream = encodeArchiveStream(
      { name: "demo", createdAtMs, firstSeq: 1, lastSeq: 1, meta: {} },
      1,
    );
    const record = Buffer.alloc(RECORD_HEADER_BYTES + 5);
    encodeRecord(record, 0, 1, createdAtMs + 5, RECORD_FLAG_COMMIT, undefined, "hello", 5);
    const before = Buffer.concat([header, stream, record]);
    const archive = Buffer.concat([before, encodeArchiveEnd(1, 1, crc32Continue(before, 0))]);
    const fromDocs = exampleFromDocs();
    expect(fromDocs.byteLength).toBe(183);
    expect(archive.toString("hex")).toBe(fromDocs.toString("hex"));
  });

  it("decodes, and any changed byte is caught", () => {
    const bytes = exampleFromDocs();
    expect(decodeArchiveHeader(bytes)).toMatchObject({
      ok: true,
      value: { version: 1, createdAtMs: createdAtMs + 1000 },
    });
    expect(decodeArchiveStream(bytes.subarray(32, 130))).toMatchObject({
      ok: true,
      value: { name: "demo", lastSeq: 1 },
    });
    expect(
      decodeArchiveEnd(bytes.subarray(163), crc32Continue(bytes.subarray(0, 163), 0)),
    ).toMatchObject({ ok: true });
    for (const at of [5, 40, 140, 170]) {
      const flipped = Buffer.from(bytes);
      flipped[at]! ^= 0x01;
      const end = decodeArchiveEnd(
        flipped.subarray(163),
        crc32Continue(flipped.subarray(0, 163), 0),
      );
      expect(end.ok).toBe(false);
    }
  });

  it("imports into a journal: the record, its seq and its timestamp", async () => {
    const dir = tempDir("archive-example");
    const file = join(dir, "demo.tmar");
    writeFileSync(file, exampleFromDocs());
    const journalDir = join(dir, "journal");
    execFileSync(process.execPath, [
      "--import",
      "tsx",
      MAIN,
      "import",
      file,
      "--dir",
      journalDir,
      "--quiet",
    ]);
    const journal = await Journal.open(journalDir, { readOnly: true });
    const stream = await journal.stream("demo");
    const records = [];
    for await (const r of stream.read())
      records.push({
        seq: r.seq,
        timestamp: r.timestamp,
        payload: Buffer.from(r.payload).toString(),
      });
    expect(records).toEqual([{ seq: 1, timestamp: createdAtMs + 5, payload: "hello" }]);
    expect(stream.info().createdAt).toBe(createdAtMs);
    await journal.close();
  });
});
