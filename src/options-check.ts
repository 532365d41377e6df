/**
 * Checking options objects to the leaves, for the library and the server's config alike: a key
 * nobody reads is refused at once with its path (`streamLimits.recordsmax`), instead of being
 * ignored and leaving the caller with defaults they did not ask for. One helper, so every layer
 * words it the same way.
 */
import { InvalidArgumentError } from "./errors.js";

/**
 * Returns `value` as a record, or throws naming `path` when it is not a plain object. An
 * `undefined` value is an empty record (the options were left out).
 */
export function optionsObject(value: unknown, path: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(
      `${path} must be an object, got ${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value}`,
      { option: path },
    );
  }
  return value as Record<string, unknown>;
}

/** Throws for the first key of `value` not in `known`, naming its path and the likely key. */
export function checkKnownKeys(
  value: unknown,
  known: readonly string[],
  path: string,
): Record<string, unknown> {
  const record = optionsObject(value, path);
  for (const key of Object.keys(record)) {
    if (known.includes(key)) continue;
    const full = path === "" ? key : `${path}.${key}`;
    const near = nearest(key, known);
    throw new InvalidArgumentError(
      `unknown option ${full}${near === undefined ? "" : ` (did you mean ${near}?)`}; ` +
        `${path === "" ? "the options" : path} may hold ${known.join(", ")}`,
      { option: full },
    );
  }
  return record;
}

/** The known key closest to `key` (same letters in another case, or at most 2 edits away). */
function nearest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const sameCase = known.find((candidate) => candidate.toLowerCase() === lower);
  if (sameCase !== undefined) return sameCase;
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length]!;
}
