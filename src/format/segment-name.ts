/**
 * Segment and index file names (docs/format.md §4, §6): the base seq in 20 zero-padded decimal
 * digits, so that lexical order is seq order, then `.seg` or `.idx`.
 */
import { INDEX_SUFFIX, SEGMENT_SUFFIX, SEQ_DIGITS } from "./constants.js";

const SEGMENT_NAME = /^(\d{20})\.seg$/;

export function segmentFileName(baseSeq: number): string {
  return String(baseSeq).padStart(SEQ_DIGITS, "0") + SEGMENT_SUFFIX;
}

export function indexFileName(baseSeq: number): string {
  return String(baseSeq).padStart(SEQ_DIGITS, "0") + INDEX_SUFFIX;
}

/** The base seq named by a segment file, or undefined for any other file name. */
export function parseSegmentFileName(fileName: string): number | undefined {
  const match = SEGMENT_NAME.exec(fileName);
  if (match === null) return undefined;
  const seq = Number(match[1]);
  return Number.isSafeInteger(seq) && seq >= 1 ? seq : undefined;
}
