/**
 * Headers every response carries (PROTOCOL.md §12.7, §10): the security pair, and CORS for
 * browsers, including the preflight answer. Node's http module writes header names as given;
 * they are case-insensitive on the wire.
 */
import type { ServerResponse } from "node:http";

const ALLOWED_HEADERS = [
  "content-type",
  "authorization",
  "if-none-match",
  "stream-seq",
  "stream-ttl",
  "stream-expires-at",
  "stream-closed",
  "producer-id",
  "producer-epoch",
  "producer-seq",
  "stream-forked-from",
  "stream-fork-offset",
  "stream-fork-sub-offset",
].join(", ");

const EXPOSED_HEADERS = [
  "stream-next-offset",
  "stream-cursor",
  "stream-up-to-date",
  "stream-closed",
  "stream-ttl",
  "stream-expires-at",
  "stream-sse-data-encoding",
  "producer-epoch",
  "producer-seq",
  "producer-expected-seq",
  "producer-received-seq",
  "etag",
  "location",
  "content-type",
  "content-encoding",
  "vary",
].join(", ");

export function setCommonHeaders(res: ServerResponse): void {
  res.setHeader("x-content-type-options", "nosniff");
  res.setHeader("cross-origin-resource-policy", "cross-origin");
  res.setHeader("access-control-allow-origin", "*");
  res.setHeader("access-control-expose-headers", EXPOSED_HEADERS);
}

export function sendPreflight(res: ServerResponse): void {
  res.setHeader("access-control-allow-methods", "GET, POST, PUT, DELETE, HEAD, OPTIONS");
  res.setHeader("access-control-allow-headers", ALLOWED_HEADERS);
  res.setHeader("access-control-max-age", "86400");
  res.writeHead(204);
  res.end();
}
