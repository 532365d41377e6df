/**
 * The bearer tokens of one subscription's wakes (PROTOCOL.md §12.9). Each wake, and each claim
 * of one, gets a fresh random token; the newest few are remembered as digests, so a worker
 * presenting a token of a wake that is over is told FENCED (409), while a token this
 * subscription never issued is unauthenticated (401 with auth on): it learns nothing, not even
 * whether the subscription exists. Compared in constant time.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { secretDigest } from "../http/secrets.js";

/** Wake tokens remembered per subscription. */
const RECENT_TOKENS_MAX = 16;

export type TokenStatus = "current" | "stale" | "unknown";

export class WakeTokens {
  private readonly digests: Buffer[] = [];

  issue(): string {
    const token = randomBytes(24).toString("base64url");
    this.digests.push(secretDigest(token));
    if (this.digests.length > RECENT_TOKENS_MAX) this.digests.shift();
    return token;
  }

  /** How `presented` relates to these tokens, `current` being the live wake's (if any). */
  status(presented: string, current: string | undefined): TokenStatus {
    const digest = secretDigest(presented);
    let known = false;
    for (const issued of this.digests) if (timingSafeEqual(issued, digest)) known = true;
    if (!known) return "unknown";
    const live = current !== undefined && timingSafeEqual(secretDigest(current), digest);
    return live ? "current" : "stale";
  }
}
