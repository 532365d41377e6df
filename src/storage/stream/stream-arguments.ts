/**
 * Checks of a stream's numeric arguments (seqs, counts, times): a bad value is an
 * INVALID_ARGUMENT naming the option, before anything is read or written.
 */
import { InvalidArgumentError } from "../../errors.js";

export function optionalSeq(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(
      `${name} must be a non-negative integer seq, got ${String(value)}`,
    );
  }
  return value;
}

export function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

export function optionalTime(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== "number" || !Number.isSafeInteger(ms) || ms < 0) {
    throw new InvalidArgumentError(
      `${name} must be a Date or milliseconds since the epoch, got ${String(value)}`,
    );
  }
  return ms;
}
