/**
 * Durable Streams offsets (PROTOCOL.md §8) as tidemark writes them: `0000000000000000_NNNNNNNNNNNNNNNN`,
 * two 16-digit zero-padded decimal fields, so string order is numeric order. The second field is
 * the stream's position after a message: `base + seq`, where `seq` is the journal seq of the
 * message in the stream's own journal stream and `base` is 0, or for a fork the offset it was
 * forked at (a fork continues its source's offset space). An empty stream's tail is all zeros.
 * The first field is reserved and always 0.
 */
import { TidemarkError } from "../../errors.js";

export const ZERO_OFFSET = "0000000000000000_0000000000000000";
const OFFSET = /^(\d{16})_(\d{16})$/;
/** The second field stays below 10^16; seqs stay below 2^53 (about 9·10^15). */
const POSITION_MAX = Number.MAX_SAFE_INTEGER;

export function formatOffset(position: number): string {
  return `0000000000000000_${String(position).padStart(16, "0")}`;
}

/**
 * A position, or undefined if `text` is not an offset tidemark could have written. A second
 * field above 2^53 - 1 (no seq gets there) is +Infinity: callers refuse it as past the tail.
 */
export function parseOffset(text: string): number | undefined {
  const match = OFFSET.exec(text);
  if (match === null || match[1] !== "0000000000000000") return undefined;
  const position = Number(match[2]);
  return position > POSITION_MAX ? Number.POSITIVE_INFINITY : position;
}

export type ReadStart =
  | { kind: "start" }
  | { kind: "now" }
  | { kind: "position"; position: number };

/**
 * The `offset` query parameter: absent or `-1` (the start), `now` (the tail), or an offset.
 * Empty, repeated or malformed values are INVALID_REQUEST (400); whether a position is one the
 * stream has reached is checked against it (read-start.ts).
 */
export function parseOffsetParam(values: string[]): ReadStart {
  if (values.length === 0) return { kind: "start" };
  if (values.length > 1) throw new TidemarkError("INVALID_REQUEST", "offset must be given once");
  const value = values[0]!;
  if (value === "-1") return { kind: "start" };
  if (value === "now") return { kind: "now" };
  const position = parseOffset(value);
  if (position === undefined) {
    throw new TidemarkError(
      "INVALID_REQUEST",
      `offset ${JSON.stringify(value.slice(0, 64))} is not an offset this server returned`,
    );
  }
  return { kind: "position", position };
}
