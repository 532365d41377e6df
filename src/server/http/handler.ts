/**
 * Request routing. Streams live under `/v1/stream/<path>`; `/healthz` and `/metrics` beside them.
 * Every error becomes a JSON body with the error's code and the status from one table
 * (error-answers.ts); no request, however malformed, can crash the server or touch another stream.
 * With auth on, every endpoint but `/healthz`, the JWKS and CORS preflights first checks that a
 * known token was presented (401), before anything that could tell whether a stream, an outbox
 * or a subscription exists; then its scopes (403); only then is anything looked up.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { TidemarkError } from "../../errors.js";
import { handleAdmin, isAdminPath } from "../admin/admin-routes.js";
import { type ServerContext, send } from "../context.js";
import { handleAppend } from "../routes/append.js";
import { forkSourcePath, handleCreate } from "../routes/create.js";
import { handleRead, startPosition } from "../routes/read.js";
import { handleSse } from "../routes/sse.js";
import { handleReserved } from "../routes/subscription-routes.js";
import { handleTrim, isTrimRoute } from "../routes/trim-route.js";
import type { DsStream } from "../streams/ds-stream.js";
import { formatOffset, parseOffsetParam } from "../streams/offsets.js";
import { checkReadStart } from "../streams/read-start.js";
import type { Authorizer } from "./auth.js";
import { httpAnswer } from "./error-answers.js";
import { sendPreflight, setCommonHeaders } from "./headers.js";
import {
  header,
  parseUrl,
  refuseConflictingHeaders,
  STREAM_PREFIX,
  streamPathOf,
} from "./request.js";

const RESERVED = "__ds";
/** Path prefixes of the journal's internal streams (the server's own, outboxes'). */
const INTERNAL = [RESERVED, "__outbox"];

export function createHandler(ctx: ServerContext, auth: Authorizer) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    res.once("finish", () => {
      ctx.metrics.requests.inc({ method: req.method ?? "?", status: String(res.statusCode) });
      const ms = performance.now() - started;
      const fields = { method: req.method, url: req.url, status: res.statusCode, ms };
      if (res.statusCode >= 500) ctx.logger.warn(fields, "request failed");
      else ctx.logger.debug(fields, "request"); // --log-level debug: every request
    });
    route(ctx, auth, req, res).catch((err: unknown) => fail(ctx, req, res, err));
  };
}

async function route(
  ctx: ServerContext,
  auth: Authorizer,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  refuseConflictingHeaders(req);
  const { pathname, query } = parseUrl(req);
  const method = req.method ?? "GET";
  if (method === "OPTIONS") {
    setCommonHeaders(res);
    return sendPreflight(res);
  }
  if (pathname === "/healthz") {
    return send(
      res,
      ctx.shuttingDown ? 503 : 200,
      { "content-type": "application/json", "cache-control": "no-store" },
      // The pid lets `tidemark` check that this server is the process holding a journal's lock.
      JSON.stringify({ ok: !ctx.shuttingDown, streams: ctx.registry.size, pid: process.pid }),
    );
  }
  if (isTrimRoute(pathname)) return handleTrim(ctx, auth, req, res, pathname, isInternalPath);
  if (pathname === "/metrics") {
    auth.check(req, "read", "/metrics");
    const body = await ctx.metrics.registry.metrics();
    return send(res, 200, { "content-type": ctx.metrics.registry.contentType }, body);
  }
  if (isAdminPath(pathname)) return handleAdmin(ctx, auth, req, res, pathname, query);
  if (ctx.dashboard.serve(req, res, pathname)) return;
  if (!pathname.startsWith(STREAM_PREFIX))
    throw new TidemarkError("NOT_FOUND", `nothing at ${pathname.slice(0, 256)}`);
  if (
    pathname === `${STREAM_PREFIX}${RESERVED}` ||
    pathname.startsWith(`${STREAM_PREFIX}${RESERVED}/`)
  ) {
    return handleReserved(ctx, auth, ctx.subscriptions, req, res, pathname);
  }
  auth.authenticate(req);
  const path = streamPathOf(pathname);
  if (isInternalPath(path)) {
    throw new TidemarkError("NOT_FOUND", `the ${path.split("/")[0]} namespace is reserved`);
  }
  const write = method === "PUT" || method === "POST" || method === "DELETE";
  auth.check(req, write ? "write" : "read", path);
  if (ctx.shuttingDown && write)
    throw new TidemarkError("SHUTTING_DOWN", "the server is shutting down");
  switch (method) {
    case "PUT": {
      // A fork shows its source's messages: creating one needs read access to the source.
      const forkedFrom = header(req, "stream-forked-from");
      if (forkedFrom !== undefined) auth.check(req, "read", forkSourcePath(forkedFrom));
      return handleCreate(ctx, req, res, path, pathname);
    }
    case "POST":
      return handleAppend(ctx, req, res, path);
    case "GET": {
      const ds = await ctx.registry.live(path, true);
      checkReadStart(ds, parseOffsetParam(query.getAll("offset")));
      checkInheritedRead(ctx, auth, req, ds, query);
      if (query.get("live") === "sse") return handleSse(ctx, req, res, ds, query);
      return handleRead(ctx, req, res, ds, query);
    }
    case "HEAD": {
      const ds = await ctx.registry.live(path, false);
      const headers: Record<string, string> = {
        "content-type": ds.meta.contentType,
        "stream-next-offset": formatOffset(ds.tail),
        "cache-control": "no-store",
      };
      if (ds.meta.ttlSeconds !== null) headers["stream-ttl"] = String(ds.meta.ttlSeconds);
      if (ds.meta.expiresAt !== null) headers["stream-expires-at"] = ds.meta.expiresAt;
      if (ds.closed) headers["stream-closed"] = "true";
      return send(res, 200, headers);
    }
    case "DELETE":
      return ctx.registry.exclusive(path, async () => {
        const ds = await ctx.registry.live(path, false);
        await ctx.registry.delete(ds);
        send(res, 204, {});
      });
    default:
      throw new TidemarkError("METHOD_NOT_ALLOWED", `${method} is not supported here`, {
        allow: "GET, HEAD, PUT, POST, DELETE, OPTIONS",
      });
  }
}

function isInternalPath(path: string): boolean {
  return INTERNAL.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
}

/**
 * A read of a fork that starts below its fork offset returns its sources' messages: it needs
 * read access to each source it reaches, as reading the source itself would.
 */
function checkInheritedRead(
  ctx: ServerContext,
  auth: Authorizer,
  req: IncomingMessage,
  ds: DsStream,
  query: URLSearchParams,
): void {
  if (!auth.enabled || ds.meta.fork === null) return;
  const from = startPosition(ds, parseOffsetParam(query.getAll("offset")));
  let fork: DsStream["meta"]["fork"] = ds.meta.fork;
  while (fork !== null && from < fork.offset) {
    auth.check(req, "read", fork.source);
    fork = ctx.registry.peek(fork.source)?.meta.fork ?? null;
  }
}

function fail(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, err: unknown): void {
  const error = httpAnswer(err);
  if (error.status >= 500) {
    ctx.logger.error(
      { method: req.method, url: req.url, code: error.code, err: String(err) },
      error.message,
    );
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // A refused body may still be arriving: discard what comes, and close the connection after
  // the answer rather than reading up to bodyBytesMax of it.
  const unread = !req.complete;
  if (unread) req.resume();
  const body = JSON.stringify({
    error: { code: error.code, message: error.message, ...error.details },
  });
  send(
    res,
    error.status,
    {
      "content-type": "application/json",
      ...error.headers,
      ...(unread ? { connection: "close" } : {}),
    },
    req.method === "HEAD" ? undefined : body,
  );
}
