/**
 * Acting on an outbox's held entries through the server (`tidemark outbox retry | discard`
 * while `tidemark serve` holds the journal):
 *
 *   POST /v1/outbox/<name>/entries/<id>/retry    {precondition?, headers?} → 200 {"id"}
 *   POST /v1/outbox/<name>/entries/<id>/discard  → 204
 *
 * Both need write access to `__outbox/<name>`; without a token the answer is 401 before anything
 * says whether the outbox or the entry exists. Only outboxes this server runs can be changed.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { TidemarkError } from "../../errors.js";
import type { Precondition } from "../../outbox/index.js";
import { type ServerContext, send } from "../context.js";
import type { Authorizer } from "../http/auth.js";

const ENTRY_ACTION = /^\/v1\/outbox\/([^/]+)\/entries\/([^/]+)\/(retry|discard)$/;
const ACTION_BODY_BYTES_MAX = 64 * 1024;

export function isOutboxAction(pathname: string): boolean {
  return ENTRY_ACTION.test(pathname);
}

export async function handleOutboxAction(
  ctx: ServerContext,
  auth: Authorizer,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
): Promise<void> {
  const [, rawName, rawId, action] = ENTRY_ACTION.exec(pathname)!;
  let name: string;
  let id: string;
  try {
    name = decodeURIComponent(rawName!);
    id = decodeURIComponent(rawId!);
  } catch {
    throw new TidemarkError(
      "INVALID_NAME",
      "the outbox name or entry id is not valid percent-encoding",
    );
  }
  auth.check(req, "write", `__outbox/${name}`);
  if (req.method !== "POST") {
    throw new TidemarkError("METHOD_NOT_ALLOWED", `${action} is a POST`, { allow: "POST" });
  }
  const outbox = ctx.served.outboxes.get(name);
  if (outbox === undefined)
    throw new TidemarkError("NOT_FOUND", `this server runs no outbox named ${name}`);
  if (action === "discard") {
    await outbox.discard(id);
    send(res, 204, {});
    return;
  }
  const body = await ctx.bodies.read(req, res, ACTION_BODY_BYTES_MAX);
  let options: { precondition?: Precondition; headers?: Record<string, string> } = {};
  if (body.byteLength > 0) {
    try {
      options = JSON.parse(body.toString("utf8")) as typeof options;
    } catch {
      throw new TidemarkError(
        "INVALID_JSON",
        "the retry body must be JSON: {precondition?, headers?}",
      );
    }
    if (typeof options !== "object" || options === null || Array.isArray(options)) {
      throw new TidemarkError("INVALID_REQUEST", "the retry body must be a JSON object");
    }
  }
  const retried = await outbox.retry(id, {
    ...(options.precondition === undefined ? {} : { precondition: options.precondition }),
    ...(options.headers === undefined ? {} : { headers: options.headers }),
  });
  send(
    res,
    200,
    { "content-type": "application/json", "cache-control": "no-store" },
    JSON.stringify({ id: retried }),
  );
}
