/**
 * Per-stream limits and retention (what a stream keeps, and for how long), their validation, and
 * the segment size they imply. Limits are enforced a whole segment at a time, so a stream with a
 * limit rotates into segments of at most an eighth of it: with `discard: 'old'` it then holds at
 * least its limit's worth (once it has that much) and at most one segment, an eighth, more.
 * Segments written before a limit was lowered keep their size: until they are released, the
 * stream can be over by one of them.
 */
import { InvalidArgumentError } from "../../errors.js";

export type Discard = "old" | "new";

export interface StreamLimits {
  /** Bytes on disk (segment files, headers included). */
  bytesMax?: number;
  /** Records held (`lastSeq - firstSeq + 1`). */
  recordsMax?: number;
  /** Records older than this are removed (by a timer as well as on append), whatever `discard`. */
  ageMsMax?: number;
  /** 'old' (default): drop the oldest segments to make room, a ring buffer. 'new': reject the
   * append with `STREAM_FULL` and change nothing. */
  discard?: Discard;
}

/** 'limits' (default): keep what the limits allow. 'acked': also release what every durable
 * consumer has acknowledged. */
export type Retention = "limits" | "acked";

export interface ResolvedLimits {
  bytesMax: number;
  recordsMax: number;
  ageMsMax: number;
  discard: Discard;
}

export const NO_LIMITS: ResolvedLimits = {
  bytesMax: Number.POSITIVE_INFINITY,
  recordsMax: Number.POSITIVE_INFINITY,
  ageMsMax: Number.POSITIVE_INFINITY,
  discard: "old",
};

/** A stream's segments are never smaller than this, whatever its limits. */
export const STREAM_SEGMENT_BYTES_MIN = 4096;
/** Segments are at most this fraction of a limit, so enforcement by segment stays close. */
export const LIMIT_SEGMENTS = 8;

export function resolveLimits(
  input: unknown,
  context: Record<string, unknown> = {},
): ResolvedLimits {
  if (input === undefined) return NO_LIMITS;
  if (typeof input !== "object" || input === null) {
    throw new InvalidArgumentError("limits must be an object", context);
  }
  const limits = input as Record<string, unknown>;
  for (const key of Object.keys(limits)) {
    if (!["bytesMax", "recordsMax", "ageMsMax", "discard"].includes(key)) {
      throw new InvalidArgumentError(`unknown limit ${JSON.stringify(key)}`, context);
    }
  }
  const discard = limits["discard"] ?? "old";
  if (discard !== "old" && discard !== "new") {
    throw new InvalidArgumentError(
      `discard must be 'old' or 'new', got ${JSON.stringify(discard)}`,
      context,
    );
  }
  return {
    bytesMax: positive("bytesMax", limits["bytesMax"], STREAM_SEGMENT_BYTES_MIN, context),
    recordsMax: positive("recordsMax", limits["recordsMax"], 1, context),
    ageMsMax: positive("ageMsMax", limits["ageMsMax"], 1, context),
    discard,
  };
}

export function validateRetention(
  input: unknown,
  context: Record<string, unknown> = {},
): Retention {
  if (input === undefined) return "limits";
  if (input !== "limits" && input !== "acked") {
    throw new InvalidArgumentError(
      `retention must be 'limits' or 'acked', got ${JSON.stringify(input)}`,
      context,
    );
  }
  return input;
}

/** The limits as stored and returned (no infinities). */
export function limitsToJson(limits: ResolvedLimits): StreamLimits {
  const out: StreamLimits = { discard: limits.discard };
  if (Number.isFinite(limits.bytesMax)) out.bytesMax = limits.bytesMax;
  if (Number.isFinite(limits.recordsMax)) out.recordsMax = limits.recordsMax;
  if (Number.isFinite(limits.ageMsMax)) out.ageMsMax = limits.ageMsMax;
  return out;
}

/** When the active segment of a stream with these limits rotates. */
export interface SegmentTargets {
  bytes: number;
  records: number;
  ageMs: number;
}

export function segmentTargets(limits: ResolvedLimits, segmentBytesMax: number): SegmentTargets {
  return {
    bytes: Math.min(
      segmentBytesMax,
      Math.max(STREAM_SEGMENT_BYTES_MIN, Math.floor(limits.bytesMax / LIMIT_SEGMENTS)),
    ),
    records: Math.max(1, Math.floor(limits.recordsMax / LIMIT_SEGMENTS)),
    ageMs: Math.max(1, Math.floor(limits.ageMsMax / LIMIT_SEGMENTS)),
  };
}

function positive(
  name: string,
  value: unknown,
  min: number,
  context: Record<string, unknown>,
): number {
  if (value === undefined) return Number.POSITIVE_INFINITY;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(
      `limits.${name} must be an integer of at least ${min}, got ${String(value)}`,
      {
        ...context,
        limit: name,
      },
    );
  }
  return value;
}
