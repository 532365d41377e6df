/**
 * The admin API beside the protocol: `/v1/auth`, `/v1/stats`, `/v1/streams[/<path>]`,
 * `/v1/messages/<path>` and `/v1/outbox…` (outbox-routes.ts). JSON for the dashboard and for
 * scripts (README "The admin API"). The token is identified first (401 before anything is looked
 * up), then each answer shows only what its scopes cover: `/v1/stats` needs read access to every
 * stream, a stream's views read access to it, and the list holds only readable streams.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { TidemarkError } from "../../errors.js";
import { type ServerContext, send } from "../context.js";
import type { Authorizer } from "../http/auth.js";
import { STREAM_PREFIX, streamPathOf } from "../http/request.js";
import { messagePage } from "./message-page.js";
import { handleOutbox } from "./outbox-routes.js";
import { statsView } from "./stats-view.js";
import { listStoredStreams } from "./stored-stream-list.js";
import { listStreams, parseListQuery } from "./stream-list.js";
import { streamDetail } from "./stream-view.js";
import type { AuthView } from "./wire-types.js";

const STREAMS = "/v1/streams";
const MESSAGES = "/v1/messages/";

export function isAdminPath(pathname: string): boolean {
  return (
    pathname === "/v1/auth" ||
    pathname === "/v1/stats" ||
    pathname === STREAMS ||
    pathname.startsWith(`${STREAMS}/`) ||
    pathname.startsWith(MESSAGES) ||
    pathname === "/v1/outbox" ||
    pathname.startsWith("/v1/outbox/")
  );
}

export async function handleAdmin(
  ctx: ServerContext,
  auth: Authorizer,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  query: URLSearchParams,
): Promise<void> {
  const grant = auth.identify(req);
  refuseCrossOriginWrites(req);
  if (pathname === "/v1/outbox" || pathname.startsWith("/v1/outbox/")) {
    return handleOutbox(ctx, grant, req, res, pathname, query);
  }
  const method = req.method ?? "GET";
  if (method !== "GET" && method !== "HEAD") {
    throw new TidemarkError("METHOD_NOT_ALLOWED", `${method} is not supported here`, {
      allow: "GET, HEAD",
    });
  }
  if (pathname === "/v1/auth") {
    const view: AuthView = {
      enabled: auth.enabled,
      token: grant.name,
      scopes: grant.scopes.map((scope) => ({ ...scope })),
    };
    return json(res, view);
  }
  if (pathname === "/v1/stats") {
    if (!grant.allows("read", "")) {
      throw new TidemarkError("FORBIDDEN", "journal stats need read access to every stream");
    }
    return json(res, await statsView(ctx));
  }
  if (pathname === STREAMS) {
    const canRead = (path: string) => grant.allows("read", path);
    const store = ctx.registry.store;
    // A shared store's streams are not all open here: the store lists them (its summaries).
    const page =
      store.summaries === undefined
        ? listStreams(ctx.registry.all(), parseListQuery(query), canRead, ctx.clock())
        : await listStoredStreams(store, parseListQuery(query), canRead, ctx.clock());
    return json(res, page);
  }
  const streams = pathname.startsWith(`${STREAMS}/`);
  const path = streamPathOf(
    STREAM_PREFIX + pathname.slice(streams ? STREAMS.length + 1 : MESSAGES.length),
  );
  if (!grant.allows("read", path)) {
    throw new TidemarkError("FORBIDDEN", `the token may not read ${path}`);
  }
  // Looking at a stream is not using it: a sliding TTL is not renewed by the dashboard.
  const ds = await ctx.registry.live(path, false);
  return json(
    res,
    streams ? streamDetail(ds, ctx.registry.store.kind) : await messagePage(ds, query),
  );
}

/**
 * A web page from another origin may not change anything here: without auth (loopback), any
 * page the user opens could otherwise make this server enqueue requests to its upstreams, or
 * retry and discard entries. Browsers name the page's origin on such requests; scripts and the
 * CLI send none, and the dashboard's own origin is this server's.
 */
function refuseCrossOriginWrites(req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin === undefined || req.method === "GET" || req.method === "HEAD") return;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined;
  }
  if (host === undefined || host !== req.headers.host) {
    throw new TidemarkError(
      "FORBIDDEN",
      `the admin API takes no writes from pages of another origin (${origin.slice(0, 100)})`,
    );
  }
}

function json(res: ServerResponse, body: unknown): void {
  send(
    res,
    200,
    { "content-type": "application/json", "cache-control": "no-store" },
    JSON.stringify(body),
  );
}
