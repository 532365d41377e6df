/**
 * Comparing secrets (bearer tokens, per-wake worker tokens) in constant time: both sides are
 * hashed first, so neither their contents nor their lengths show in the time a comparison takes.
 */
import { createHash, timingSafeEqual } from "node:crypto";

export function secretDigest(secret: string): Buffer {
  return createHash("sha256").update(secret).digest();
}

export function sameSecret(presented: string, expected: string): boolean {
  return timingSafeEqual(secretDigest(presented), secretDigest(expected));
}
