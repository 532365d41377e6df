/**
 * What the HTTP-based upstreams share: checking a base URL and a token, sending one request with
 * the caller's abort signal, and classifying answers that are neither a success nor a conflict.
 */
import type { Pool } from "undici";
import { InvalidArgumentError } from "../../errors.js";
import { parseRetryAfter } from "../delivery/backoff.js";
import { ANSWER_BODY_CHARS_MAX, type Outcome, type UpstreamAnswer } from "./upstream.js";

const RETRY_STATUSES = new Set([408, 425, 429]);
const ANSWER_READ_BYTES_MAX = 64 * 1024;

/** `http(s)://host[:port][/base]` → its origin and base path (no trailing slash). */
export function parseBaseUrl(baseUrl: string): { origin: string; basePath: string } {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new InvalidArgumentError(`baseUrl is not a URL: ${JSON.stringify(baseUrl)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidArgumentError(`baseUrl must be http or https, got ${url.protocol}`);
  }
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    throw new InvalidArgumentError("baseUrl may not carry a query, fragment or credentials");
  }
  return { origin: url.origin, basePath: url.pathname.replace(/\/+$/, "") };
}

/** The Authorization header for a bearer token (none without one). */
export function bearer(token: string | undefined): Record<string, string> {
  if (token === undefined) return {};
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new InvalidArgumentError("token must be printable ASCII without spaces");
  }
  return { authorization: `Bearer ${token}` };
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

export function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}
