/** Plain-text tables for people: columns padded to their widest cell, no trailing spaces. */
export function table(rows: string[][], print: (line: string) => void): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length)));
  for (const row of rows) {
    print(
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    );
  }
}
