/**
 * HTTP routes of the reserved `/v1/stream/__ds/` namespace: the JWKS of webhook signatures and
 * the subscription API. Worker requests (callback, ack, release) are authorized by the wake's own
 * bearer token; managing subscriptions needs write access to `__ds/` when auth is on.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { TidemarkError } from "../../errors.js";
import { type ServerContext, send } from "../context.js";
import type { Authorizer } from "../http/auth.js";
import { readBody } from "../http/request.js";
import type { Subscriptions } from "../subscriptions/subscriptions.js";

const BODY_BYTES_MAX = 64 * 1024;
const ROUTE =
  /^\/v1\/stream\/__ds\/subscriptions\/([^/]+)(?:\/(streams|callback|claim|ack|release)(?:\/([^/]+))?)?$/;

export async function handleReserved(
  _ctx: ServerContext,
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
      JSON.stringify(subscriptions.jwks()),
    );
  }
  const match = ROUTE.exec(pathname);
  if (match === null)
    throw new TidemarkError("NOT_FOUND", "nothing at this path of the reserved __ds namespace");
  const id = decode(match[1]!);
  const action = match[2];
  const worker = action === "callback" || action === "ack" || action === "release";
  if (!worker) auth.check(req, method === "GET" ? "read" : "write", "__ds/");
  const token = bearer(req);
  const json = async () => parseJson(await readBody(req, BODY_BYTES_MAX));
  if (action === undefined) {
    if (method === "PUT") {
      const { created, body } = await subscriptions.put(id, await json());
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
        JSON.stringify(subscriptions.get(id)),
      );
    if (method === "DELETE") {
      await subscriptions.delete(id);
      return send(res, 204, {});
    }
  } else if (action === "streams") {
    if (match[3] === undefined && method === "POST") {
      await subscriptions.addStreams(id, await json());
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
