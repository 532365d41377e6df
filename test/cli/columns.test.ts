import { describe, expect, it } from "vitest";
import { formatColumns } from "../../src/cli/columns.js";

describe("formatColumns", () => {
  it("aligns columns by terminal width, so CJK names (two columns a character) stay in line", () => {
    const lines = formatColumns([
      ["stream", "records"],
      ["日本語/ログ", "12"],
      ["ascii/log", "3"],
    ]);
    // The second column starts at the same terminal column on every line: "日本語/ログ" is 11
    // columns wide, the widest of the first column.
    expect(lines).toEqual(["stream       records", "日本語/ログ  12", "ascii/log    3"]);
  });
});
