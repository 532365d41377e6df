/**
 * Plain-text tables for people: columns padded to their widest cell by the width a terminal
 * gives each character (columns.ts), no trailing spaces.
 */
import { formatColumns } from "./columns.js";

export function table(rows: string[][], print: (line: string) => void): void {
  for (const line of formatColumns(rows)) print(line);
}
