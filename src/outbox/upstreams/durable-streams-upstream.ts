/**
 * A Durable Streams upstream (a remote `tidemark serve`, or any server of the protocol): each
 * delivery is one append to the stream at the delivery's target, as an idempotent producer. The
 * producer is the sender (`tidemark:<source>`, epoch 0) and its Producer-Seq is the delivery's
 * sequence, contiguous per target and fixed at the first attempt, so the server applies each
 * message exactly once however often a lost answer makes us send it again, and refuses a gap.
 *
 *   200, 204 (a duplicate too)         delivered
 *   404 with `createContentType`       the stream is created, and the append sent again
 *   409, 403 (closed, fenced, gap)     rejected: a dead letter, with the answer
 *   408, 425, 429, 5xx, network        retry
 */
import { Pool } from "undici";
import { checkKnownKeys } from "../../options-check.js";
import { bearer, classifyFailure, parseBaseUrl, positive, request } from "./http-request.js";
import type { Delivery, Outcome, Upstream } from "./upstream.js";

export interface DurableStreamsUpstreamOptions {
  /** The server's origin and base path, e.g. `http://127.0.0.1:4437`; targets are stream paths (`/v1/stream/x`). */
  baseUrl: string;
  token?: string;
  timeoutMs?: number;
  /** When set, a missing remote stream is created with this content type. */
  createContentType?: string;
  /** Connections to the server (default 8). */
  connections?: number;
}

export class DurableStreamsUpstream implements Upstream {
  readonly sequenced = true;
  readonly description: string;
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly timeoutMs: number;
  private readonly authorization: Record<string, string>;
  private readonly createContentType: string | undefined;

  constructor(options: DurableStreamsUpstreamOptions) {
    checkKnownKeys(
      options,
      ["baseUrl", "token", "timeoutMs", "createContentType", "connections"],
      "DurableStreamsUpstream options",
    );
    const { origin, basePath } = parseBaseUrl(options.baseUrl);
    this.basePath = basePath;
    this.description = `durable-streams ${origin}${basePath}`;
    this.timeoutMs = positive(options.timeoutMs, 30_000, "timeoutMs");
    this.authorization = bearer(options.token);
    this.createContentType = options.createContentType;
    this.pool = new Pool(origin, {
      connections: positive(options.connections, 8, "connections"),
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  async deliver(delivery: Delivery, signal: AbortSignal): Promise<Outcome> {
    const first = await this.append(delivery, signal);
    if (first !== "missing") return first;
    const created = await this.create(delivery, signal);
    if (created !== undefined) return created;
    const second = await this.append(delivery, signal);
    return second === "missing"
      ? { kind: "retry", error: "the remote stream was created but is still missing" }
      : second;
  }

  private async append(delivery: Delivery, signal: AbortSignal): Promise<Outcome | "missing"> {
    let missing = false;
    const outcome = await request(
      this.pool,
      {
        method: "POST",
        path: this.basePath + delivery.target,
        headers: {
          "content-type": delivery.headers["content-type"] ?? "application/octet-stream",
          "producer-id": `tidemark:${delivery.source}`,
          "producer-epoch": "0",
          "producer-seq": String(delivery.sequence),
          ...this.authorization,
        },
        body: delivery.body,
      },
      signal,
      this.timeoutMs,
      (status, answer) => {
        if (status === 200 || status === 204) return { kind: "delivered", status };
        if (status === 404 && this.createContentType !== undefined) {
          missing = true;
          return { kind: "retry", error: "the remote stream does not exist" };
        }
        if (status === 409 || status === 403 || status === 410) {
          const found = answer();
          return {
            kind: "rejected",
            reason: `the server refused the append (${status}${codeOf(found.body)})`,
            answer: found,
          };
        }
        return classifyFailure(status, answer());
      },
    );
    return missing ? "missing" : outcome;
  }

  /** Creates the remote stream; undefined when it exists now, else the failure. */
  private async create(delivery: Delivery, signal: AbortSignal): Promise<Outcome | undefined> {
    const outcome = await request(
      this.pool,
      {
        method: "PUT",
        path: this.basePath + delivery.target,
        headers: { "content-type": this.createContentType!, ...this.authorization },
      },
      signal,
      this.timeoutMs,
      (status, answer) =>
        status === 200 || status === 201 || status === 409
          ? { kind: "delivered", status }
          : classifyFailure(status, answer()),
    );
    return outcome.kind === "delivered" ? undefined : outcome;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

function codeOf(body: string): string {
  const match = /"code"\s*:\s*"([A-Z_]+)"/.exec(body);
  return match === null ? "" : `, ${match[1]}`;
}
