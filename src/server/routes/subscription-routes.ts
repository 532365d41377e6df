/**
 * HTTP routes of the reserved `/v1/stream/__ds/` namespace: the JWKS of webhook signatures and
 * the subscription API. Worker requests (callback, ack, release) are authorized by the wake's own
 * bearer token: with auth on, a request without one of that subscription's wake tokens is 401,
 * whether or not the subscription exists. Managing subscriptions needs a configured token with
 * access to `__ds/` (write to change, read to look), and, since a subscription tells its worker
 * about its streams' appends, read access to every stream it names (its pattern: read on the
 * pattern's literal prefix) and write access to a pull-wake subscription's wake stream.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { TidemarkError } from "../../errors.js";
import { type ServerContext, send } from "../context.js";
import type { Authorizer } from "../http/auth.js";
import type { Subscriptions } from "../subscriptions/subscriptions.js";

const BODY_BYTES_MAX = 64 * 1024;
const ROUTE =
  /^\/v1\/stream\/__ds\/subscriptions\/([^/]+)(?:\/(streams|callback|claim|ack|release)(?:\/([^/]+))?)?$/;

export async function handleReserved(
  ctx: ServerContext,
  auth: Authorizer,
  subscriptions: Subscriptions,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
): Promise<void> {
  const method = req.method ?? "GET";
  if (pathname === "/v1/stream/__ds/jwks.json" && method === "GET") {
    return send(
      res,
      200,
      { "content-type": "application/jwk-set+json", "cache-control": "public, max-age=300" },
      JSON.stringify(await subscriptions.jwks()),
    );
  }
  const match = ROUTE.exec(pathname);
  const action = match?.[2];
  const worker = action === "callback" || action === "ack" || action === "release";
  const token = bearer(req);
  if (worker && auth.enabled && token === undefined) {
    throw new TidemarkError("UNAUTHORIZED", "a wake's bearer token is required");
  }
  if (!worker) auth.check(req, method === "GET" ? "read" : "write", "__ds/");
  if (match === null)
    throw new TidemarkError("NOT_FOUND", "nothing at this path of the reserved __ds namespace");
  const id = decode(match[1]!);
  if (worker && auth.enabled && (await subscriptions.workerToken(id, token!)) === "unknown") {
    throw new TidemarkError(
      "UNAUTHORIZED",
      "the bearer token is not a wake token of this subscription",
      {
        invalidToken: true,
      },
    );
  }
  const json = async () => parseJson(await ctx.bodies.read(req, res, BODY_BYTES_MAX));
  if (action === undefined) {
    if (method === "PUT") {
      const input = await json();
      checkSubscriptionAccess(auth, req, input);
      const { created, body } = await subscriptions.put(id, input);
      return send(
        res,
        created ? 201 : 200,
        { "content-type": "application/json" },
        JSON.stringify(body),
      );
    }
    if (method === "GET")
      return send(
        res,
        200,
        { "content-type": "application/json" },
        JSON.stringify(await subscriptions.get(id)),
      );
    if (method === "DELETE") {
      await subscriptions.delete(id);
      return send(res, 204, {});
    }
  } else if (action === "streams") {
    if (match[3] === undefined && method === "POST") {
      const input = await json();
      checkSubscriptionAccess(auth, req, input);
      await subscriptions.addStreams(id, input);
      return send(res, 204, {});
    }
    if (match[3] !== undefined && method === "DELETE") {
      await subscriptions.removeStream(id, decode(match[3]));
      return send(res, 204, {});
    }
  } else if (method === "POST") {
    const input = await json();
    if (action === "claim")
      return send(
        res,
        200,
        { "content-type": "application/json" },
        JSON.stringify(await subscriptions.claim(id, input)),
      );
    if (action === "release") {
      await subscriptions.release(id, token, input);
      return send(res, 204, {});
    }
    const result =
      action === "callback"
        ? await subscriptions.callback(id, token, input)
        : await subscriptions.ack(id, token, input);
    return send(res, 200, { "content-type": "application/json" }, JSON.stringify(result));
  }
  throw new TidemarkError("METHOD_NOT_ALLOWED", `${method} is not supported here`);
}

/**
 * A subscription reports its streams' progress to its worker, so naming a stream in one needs
 * read access to it (for a pattern, to everything it can match: its literal prefix); a
 * pull-wake subscription writes wake events into its wake stream, which needs write access.
 */
function checkSubscriptionAccess(auth: Authorizer, req: IncomingMessage, input: unknown): void {
  if (!auth.enabled || typeof input !== "object" || input === null) return;
  const body = input as { streams?: unknown; pattern?: unknown; wake_stream?: unknown };
  if (Array.isArray(body.streams)) {
    for (const path of body.streams) if (typeof path === "string") auth.check(req, "read", path);
  }
  if (typeof body.pattern === "string") {
    auth.check(req, "read", body.pattern.split(/[*?]/)[0]!);
  }
  if (typeof body.wake_stream === "string") auth.check(req, "write", body.wake_stream);
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new TidemarkError("INVALID_REQUEST", "the path is not valid percent-encoding");
  }
}

function bearer(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
  return match?.[1];
}

function parseJson(body: Buffer): unknown {
  if (body.byteLength === 0) return {};
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new TidemarkError("INVALID_REQUEST", "the body is not valid JSON");
  }
}
