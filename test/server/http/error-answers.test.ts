/**
 * The one error table: every code tidemark can return has an HTTP status (the typecheck makes
 * sure of that), and the README's table of errors over HTTP lists each code with that status.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_CODES, TidemarkError } from "../../../src/errors.js";
import { HTTP_STATUS, httpAnswer } from "../../../src/server/http/error-answers.js";

function readmeTable(): Map<string, number> {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  const section = readme.slice(readme.indexOf("### Errors over HTTP"));
  const rows = section.slice(0, section.indexOf("\n## ")).split("\n");
  const table = new Map<string, number>();
  for (const row of rows) {
    const match = /^\| (\d{3}) \| (.*) \|$/.exec(row);
    if (match === null) continue;
    for (const code of match[2]!.matchAll(/`([A-Z_]+)`/g)) {
      expect(table.has(code[1]!), `${code[1]} is listed twice`).toBe(false);
      table.set(code[1]!, Number(match[1]));
    }
  }
  return table;
}

describe("error answers", () => {
  it("lists every error code in the README with the status the server answers", () => {
    const table = readmeTable();
    for (const code of ERROR_CODES) {
      expect(table.get(code), `README row for ${code}`).toBe(HTTP_STATUS[code]);
    }
    expect(
      [...table.keys()].filter((code) => !(ERROR_CODES as readonly string[]).includes(code)),
    ).toEqual([]);
  });

  it("turns error context into the headers the protocol asks for", () => {
    const fenced = httpAnswer(new TidemarkError("PRODUCER_FENCED", "old", { currentEpoch: 3 }));
    expect(fenced).toMatchObject({ status: 403, headers: { "producer-epoch": "3" } });
    const gap = httpAnswer(
      new TidemarkError("PRODUCER_SEQ_GAP", "gap", { expectedSeq: 4, receivedSeq: 6 }),
    );
    expect(gap.headers).toEqual({ "producer-expected-seq": "4", "producer-received-seq": "6" });
    const closed = httpAnswer(new TidemarkError("STREAM_CLOSED", "closed", { nextOffset: "x" }));
    expect(closed.headers).toEqual({ "stream-next-offset": "x", "stream-closed": "true" });
    expect(httpAnswer(new TidemarkError("DISK_FULL", "full")).headers).toEqual({
      "retry-after": "1",
    });
    const claimed = httpAnswer(
      new TidemarkError("ALREADY_CLAIMED", "taken", { current_holder: "w1", generation: 2, x: 1 }),
    );
    expect(claimed.details).toEqual({ current_holder: "w1", generation: 2 });
    expect(httpAnswer(new Error("boom"))).toMatchObject({ status: 500, code: "INTERNAL" });
  });
});
