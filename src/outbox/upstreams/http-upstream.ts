/**
 * A plain HTTP upstream: each entry is one request to `baseUrl` + its target, carrying the
 * entry's `Idempotency-Key` on every attempt (so an upstream that honours it applies a retry
 * after a lost response once), its precondition as `If-Match` or `If-Unmodified-Since`, and a
 * bearer token. Redirects are not followed (a write is not replayed somewhere else).
 *
 *   2xx                               delivered
 *   412 (and `conflictStatuses`)      conflict, with the answer
 *   408, 425, 429, 5xx, network, timeout   retry (429 and 503 honour Retry-After)
 *   anything else (3xx, 4xx)          rejected: a dead letter, with the answer
 */
import { Pool } from "undici";
import { InvalidArgumentError } from "../../errors.js";
import { checkKnownKeys } from "../../options-check.js";
import { bearer, classifyFailure, parseBaseUrl, positive, request } from "./http-request.js";
import type { Delivery, Outcome, Upstream } from "./upstream.js";

export interface HttpUpstreamOptions {
  /** `http(s)://host[:port][/base/path]`; an entry's target is appended to it. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** The longest an attempt may take, headers and body (default 30 s). */
  timeoutMs?: number;
  /** Larger bodies are rejected without a request (default 16 MiB). */
  bodyBytesMax?: number;
  /** Statuses that mean "precondition failed" (default [412]; add 409 if the upstream uses it). */
  conflictStatuses?: number[];
  /** Connections to the upstream (default 16). */
  connections?: number;
}

export class HttpUpstream implements Upstream {
  readonly sequenced = false;
  readonly description: string;
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly timeoutMs: number;
  private readonly bodyBytesMax: number;
  private readonly conflictStatuses: Set<number>;
  private readonly authorization: Record<string, string>;

  constructor(options: HttpUpstreamOptions) {
    checkKnownKeys(
      options,
      ["baseUrl", "token", "timeoutMs", "bodyBytesMax", "conflictStatuses", "connections"],
      "HttpUpstream options",
    );
    const { origin, basePath } = parseBaseUrl(options.baseUrl);
    this.authorization = bearer(options.token);
    this.timeoutMs = positive(options.timeoutMs, 30_000, "timeoutMs");
    this.bodyBytesMax = positive(options.bodyBytesMax, 16 * 1024 * 1024, "bodyBytesMax");
    this.conflictStatuses = new Set(options.conflictStatuses ?? [412]);
    for (const status of this.conflictStatuses) {
      if (!Number.isInteger(status) || status < 400 || status > 499) {
        throw new InvalidArgumentError(`conflictStatuses must be 4xx statuses, got ${status}`);
      }
    }
    this.basePath = basePath;
    this.description = `${origin}${basePath}`;
    this.pool = new Pool(origin, {
      connections: positive(options.connections, 16, "connections"),
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  async deliver(delivery: Delivery, signal: AbortSignal): Promise<Outcome> {
    if (delivery.body.byteLength > this.bodyBytesMax) {
      return {
        kind: "rejected",
        reason: `the body is ${delivery.body.byteLength} bytes; this upstream takes at most ${this.bodyBytesMax}`,
      };
    }
    const headers: Record<string, string> = { ...delivery.headers, ...this.authorization };
    headers["idempotency-key"] = delivery.idempotencyKey;
    if (delivery.precondition !== null) {
      if ("ifMatch" in delivery.precondition) headers["if-match"] = delivery.precondition.ifMatch;
      else headers["if-unmodified-since"] = delivery.precondition.ifUnmodifiedSince;
    }
    if (headers["content-type"] === undefined && delivery.body.byteLength > 0) {
      headers["content-type"] = "application/octet-stream";
    }
    return request(
      this.pool,
      {
        method: delivery.method,
        path: this.basePath + delivery.target,
        headers,
        body: delivery.body,
      },
      signal,
      this.timeoutMs,
      (status, answer) => {
        if (status >= 200 && status < 300) return { kind: "delivered", status };
        if (this.conflictStatuses.has(status)) return { kind: "conflict", answer: answer() };
        return classifyFailure(status, answer());
      },
    );
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
