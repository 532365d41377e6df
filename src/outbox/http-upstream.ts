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
import { InvalidArgumentError } from "../errors.js";
import { parseRetryAfter } from "./backoff.js";
import {
  ANSWER_BODY_CHARS_MAX,
  type Delivery,
  type Outcome,
  type Upstream,
  type UpstreamAnswer,
} from "./upstream.js";

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

const RETRY_STATUSES = new Set([408, 425, 429]);
const ANSWER_READ_BYTES_MAX = 64 * 1024;

export class HttpUpstream implements Upstream {
  readonly sequenced = false;
  readonly description: string;
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly timeoutMs: number;
  private readonly bodyBytesMax: number;
  private readonly conflictStatuses: Set<number>;
  private readonly authorization: string | undefined;

  constructor(options: HttpUpstreamOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new InvalidArgumentError(`baseUrl is not a URL: ${JSON.stringify(options.baseUrl)}`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new InvalidArgumentError(`baseUrl must be http or https, got ${url.protocol}`);
    }
    if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
      throw new InvalidArgumentError("baseUrl may not carry a query, fragment or credentials");
    }
    if (options.token !== undefined && !/^[\x21-\x7e]+$/.test(options.token)) {
      throw new InvalidArgumentError("token must be printable ASCII without spaces");
    }
    this.timeoutMs = positive(options.timeoutMs, 30_000, "timeoutMs");
    this.bodyBytesMax = positive(options.bodyBytesMax, 16 * 1024 * 1024, "bodyBytesMax");
    this.conflictStatuses = new Set(options.conflictStatuses ?? [412]);
    for (const status of this.conflictStatuses) {
      if (!Number.isInteger(status) || status < 400 || status > 499) {
        throw new InvalidArgumentError(`conflictStatuses must be 4xx statuses, got ${status}`);
      }
    }
    this.authorization = options.token === undefined ? undefined : `Bearer ${options.token}`;
    this.basePath = url.pathname.replace(/\/+$/, "");
    this.description = `${url.origin}${this.basePath}`;
    this.pool = new Pool(url.origin, {
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
    const headers: Record<string, string> = { ...delivery.headers };
    headers["idempotency-key"] = delivery.idempotencyKey;
    if (this.authorization !== undefined) headers["authorization"] = this.authorization;
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

/** The classification shared by upstreams for statuses that are not a success or conflict. */
export function classifyFailure(status: number, answer: UpstreamAnswer): Outcome {
  if (RETRY_STATUSES.has(status) || status >= 500) {
    const retryAfterMs = parseRetryAfter(answer.headers["retry-after"], Date.now());
    const outcome: Outcome = {
      kind: "retry",
      error: `the upstream answered ${status}${answer.body === "" ? "" : `: ${answer.body.slice(0, 200)}`}`,
      status,
      throttled: status === 429,
    };
    if (retryAfterMs !== undefined) outcome.retryAfterMs = retryAfterMs;
    return outcome;
  }
  return {
    kind: "rejected",
    reason: `the upstream answered ${status}${status >= 300 && status < 400 ? " (redirects are not followed)" : ""}`,
    answer,
  };
}

/**
 * One request with a deadline and the caller's abort signal. `classify` gets the status and a
 * function that returns the answer (status, headers, first bytes of the body).
 */
export async function request(
  pool: Pool,
  options: {
    method: string;
    path: string;
    headers: Record<string, string>;
    body?: Uint8Array;
  },
  signal: AbortSignal,
  timeoutMs: number,
  classify: (status: number, answer: () => UpstreamAnswer) => Outcome,
): Promise<Outcome> {
  if (signal.aborted) return { kind: "retry", error: "aborted before sending" };
  // The deadline is the pool's headers and body timeouts (one timer each inside undici);
  // a per-request AbortSignal.timeout halved the request rate (measured).
  try {
    const response = await pool.request({
      method: options.method as "POST",
      path: options.path,
      headers: options.headers,
      body: options.body === undefined ? null : options.body,
      signal,
    });
    const status = response.statusCode;
    if (status >= 200 && status < 300) {
      await response.body.dump();
      return classify(status, () => ({ status, headers: {}, body: "" }));
    }
    // Only the first bytes are kept; the rest is read and dropped (bounded), so the connection
    // is reused.
    const chunks: Buffer[] = [];
    let read = 0;
    for await (const chunk of response.body) {
      read += (chunk as Buffer).byteLength;
      if (read <= ANSWER_READ_BYTES_MAX) chunks.push(chunk as Buffer);
      else {
        response.body.destroy();
        break;
      }
    }
    const text = Buffer.concat(chunks).toString("utf8");
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    return classify(status, () => ({
      status,
      headers,
      body: text.slice(0, ANSWER_BODY_CHARS_MAX),
    }));
  } catch (err) {
    if (signal.aborted) return { kind: "retry", error: "aborted (the outbox is stopping)" };
    const error = err as { code?: string; message?: string };
    if (error.code === "UND_ERR_HEADERS_TIMEOUT" || error.code === "UND_ERR_BODY_TIMEOUT") {
      return { kind: "retry", error: `timed out after ${timeoutMs} ms` };
    }
    return {
      kind: "retry",
      error: `${error.code ?? "network error"}: ${error.message ?? String(err)}`,
    };
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}
