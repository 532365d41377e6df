/**
 * Text tables for the terminal: columns padded by the width a terminal gives each character,
 * not by UTF-16 length, so a CJK or emoji stream name (two columns per character) does not push
 * the columns after it out of line.
 */
import stringWidth from "string-width";

/** The rows as lines, each cell padded to its column's widest cell, two spaces apart. */
export function formatColumns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, stringWidth(cell));
  }
  return rows.map((row) =>
    row
      .map((cell, i) => cell + " ".repeat(widths[i]! - stringWidth(cell)))
      .join("  ")
      .trimEnd(),
  );
}
