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
  /** Where the limits were given, for messages (`streamLimits` in the server's config). */
  path = "limits",
): ResolvedLimits {
  if (input === undefined) return NO_LIMITS;
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new InvalidArgumentError(`${path} must be an object`, { ...context, option: path });
  }
  const limits = input as Record<string, unknown>;
  for (const key of Object.keys(limits)) {
    if (!(LIMIT_KEYS as readonly string[]).includes(key)) {
      const near = LIMIT_KEYS.find((known) => known.toLowerCase() === key.toLowerCase());
      throw new InvalidArgumentError(
        `unknown limit ${path}.${key}${near === undefined ? "" : ` (did you mean ${near}?)`}; ` +
          `limits are ${LIMIT_KEYS.join(", ")}`,
        { ...context, option: `${path}.${key}` },
      );
    }
  }
  const discard = limits["discard"] ?? "old";
  if (discard !== "old" && discard !== "new") {
    throw new InvalidArgumentError(
      `${path}.discard must be 'old' or 'new', got ${JSON.stringify(discard)}`,
      { ...context, option: `${path}.discard` },
    );
  }
  return {
    bytesMax: positive(path, "bytesMax", limits["bytesMax"], STREAM_SEGMENT_BYTES_MIN, context),
    recordsMax: positive(path, "recordsMax", limits["recordsMax"], 1, context),
    ageMsMax: positive(path, "ageMsMax", limits["ageMsMax"], 1, context),
    discard,
  };
}

const LIMIT_KEYS = ["bytesMax", "recordsMax", "ageMsMax", "discard"] as const;

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
  path: string,
  name: string,
  value: unknown,
  min: number,
  context: Record<string, unknown>,
): number {
  if (value === undefined) return Number.POSITIVE_INFINITY;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(
      `${path}.${name} must be an integer of at least ${min}, got ${JSON.stringify(value)}`,
      { ...context, limit: name, option: `${path}.${name}` },
    );
  }
  return value;
}
