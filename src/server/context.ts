/**
 * What every request handler shares: the stream registry, the server's limits and clock, the
 * count of live (long-poll and SSE) connections, metrics and the logger.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../logger.js";
import type { BodyReader } from "./http/body-reader.js";
import { setCommonHeaders } from "./http/headers.js";
import type { ReadAhead } from "./live/read-ahead.js";
import type { Metrics } from "./metrics.js";
import type { ServedOutboxes } from "./outboxes/served-outboxes.js";
import type { DsRegistry } from "./streams/ds-registry.js";
import type { RecentBudget } from "./streams/recent-messages.js";
import type { Subscriptions } from "./subscriptions/subscriptions.js";

export interface ServerLimits {
  /** Longest wait of a long-poll before it answers 204 (and between SSE keep-alives). */
  longPollTimeoutMs: number;
  /** An SSE response ends after this long; the client reconnects from its last offset. */
  sseLifetimeMs: number;
  /** Largest request body. */
  bodyBytesMax: number;
  /** Most message bytes in one long-poll response or one SSE event (at least one message). */
  readBytesMax: number;
  /**
   * Most message bytes in one catch-up response; undefined (the default): everything up to the
   * tail as of the request, in one streamed response.
   */
  catchUpBytesMax: number | undefined;
  /** Most long-poll and SSE connections open at once; past it, 503 with Retry-After. */
  liveConnectionsMax: number;
}

export interface ServerContext {
  registry: DsRegistry;
  subscriptions: Subscriptions;
  limits: ServerLimits;
  clock: () => number;
  metrics: Metrics;
  logger: Logger;
  /** Set when the server is shutting down: live connections finish and end. */
  shuttingDown: boolean;
  live: Set<() => void>;
  readAhead: ReadAhead;
  /** Outboxes and mirrors the server runs. */
  served: ServedOutboxes;
  /** Memory shared by the recent-message caches of streams with live readers. */
  recentBudget: RecentBudget;
  /** Reads request bodies within the server-wide budget for them (body-reader.ts). */
  bodies: BodyReader;
  /** When the server started (ms since the epoch). */
  startedAt: number;
  /** The dashboard's files (dashboard-assets.ts): answers true if the request was theirs. */
  dashboard: { serve(req: IncomingMessage, res: ServerResponse, pathname: string): boolean };
}

export function send(
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body?: Buffer | string | readonly Uint8Array[],
): void {
  setCommonHeaders(res);
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (body === undefined || status === 204 || status === 304) {
    if (status !== 204 && status !== 304) res.setHeader("content-length", 0);
    res.writeHead(status);
    res.end();
    return;
  }
  if (typeof body === "string" || Buffer.isBuffer(body)) {
    res.setHeader("content-length", Buffer.byteLength(body));
    res.writeHead(status);
    res.end(body);
    return;
  }
  // Message payloads as they came off the disk: one writev, no copy into a response buffer.
  let length = 0;
  for (const part of body) length += part.byteLength;
  res.setHeader("content-length", length);
  res.writeHead(status);
  res.cork();
  for (const part of body) res.write(part);
  res.end();
}

/** The absolute URL of a request (for `Location`). */
export function absoluteUrl(req: IncomingMessage, pathname: string): string {
  const host = req.headers.host ?? "localhost";
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  return `${encrypted ? "https" : "http"}://${host}${pathname}`;
}
