/**
 * `/v1/outbox…`: the outboxes the server runs, over HTTP, for the dashboard, scripts and the
 * CLI (which cannot open the journal while the server holds its lock). Reading an outbox needs
 * read access to `__outbox/<name>`, enqueueing, retrying and discarding write access; the token
 * is checked before the outbox or entry is looked up, so a request that may not see an outbox
 * cannot learn whether it exists. Entry bodies travel as base64 (they are bytes).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { TidemarkError } from "../../errors.js";
import {
  OUTBOX_PREFIX,
  type Outbox,
  type OutboxEntryInput,
  type Precondition,
  type RetryOptions,
} from "../../outbox/index.js";
import { type ServerContext, send } from "../context.js";
import type { Grant } from "../http/auth.js";
import type {
  OutboxDetail,
  OutboxEntryDetail,
  OutboxEntryView,
  OutboxList,
  OutboxStatusView,
} from "./wire-types.js";

const ROUTE = /^\/v1\/outbox\/([^/]+)(?:\/entries\/([^/]+)(?:\/(retry|discard))?)?$/;
const ENTRIES_SHOWN_DEFAULT = 100;
const ENTRIES_SHOWN_MAX = 1000;
/** A retry's body: a precondition and headers. */
const RETRY_BODY_BYTES_MAX = 64 * 1024;
const ENQUEUE_FIELDS = new Set([
  "key",
  "method",
  "target",
  "headers",
  "body",
  "bodyBase64",
  "precondition",
]);
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export async function handleOutbox(
  ctx: ServerContext,
  grant: Grant,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  query: URLSearchParams,
): Promise<void> {
  const method = req.method ?? "GET";
  if (pathname === "/v1/outbox") {
    allow(method, "GET, HEAD");
    return json(res, 200, outboxList(ctx, grant));
  }
  const match = ROUTE.exec(pathname);
  if (match === null) throw new TidemarkError("NOT_FOUND", `nothing at ${pathname}`);
  const name = decode(match[1]!);
  const id = match[2] === undefined ? undefined : decode(match[2]);
  const action = match[3];
  const write = method === "POST";
  const scope = `${OUTBOX_PREFIX}${name}`;
  if (!grant.allows(write ? "write" : "read", scope)) {
    throw new TidemarkError("FORBIDDEN", `the token may not ${write ? "write" : "read"} ${scope}`);
  }
  if (write && ctx.shuttingDown) {
    throw new TidemarkError("SHUTTING_DOWN", "the server is shutting down");
  }
  const outbox = find(ctx, name);
  if (id === undefined) {
    allow(method, "GET, HEAD, POST");
    if (method === "POST") {
      const entry = enqueueInput(await readJson(ctx, req, res, enqueueBodyBytesMax(ctx)));
      return json(res, 201, { id: await outbox.enqueue(entry) });
    }
    return json(res, 200, outboxDetail(outbox, grant.allows("write", scope), query));
  }
  if (action === undefined) {
    allow(method, "GET, HEAD");
    const info = outbox.get(id);
    if (info === undefined) throw noEntry(name, id);
    const body = await outbox.body(id);
    const detail: OutboxEntryDetail = { ...info, bodyBase64: Buffer.from(body).toString("base64") };
    return json(res, 200, detail);
  }
  allow(method, "POST");
  if (action === "retry") {
    const options = retryOptions(await readJson(ctx, req, res, RETRY_BODY_BYTES_MAX));
    return json(res, 200, { id: await outbox.retry(id, options) });
  }
  await outbox.discard(id);
  send(res, 204, {});
}

function outboxList(ctx: ServerContext, grant: Grant): OutboxList {
  const { outboxes, mirrors } = ctx.served.status();
  return {
    outboxes: outboxes
      .filter((stats) => grant.allows("read", `${OUTBOX_PREFIX}${stats.name}`))
      .map((stats): OutboxStatusView => stats),
    // A mirror shows how much of its source stream is copied: visible to its readers.
    mirrors: mirrors.filter((stats) => grant.allows("read", stats.source)),
  };
}

function outboxDetail(outbox: Outbox, writable: boolean, query: URLSearchParams): OutboxDetail {
  const limitText = query.get("limit");
  const limit = limitText === null ? ENTRIES_SHOWN_DEFAULT : Number(limitText);
  if (!/^\d+$/.test(limitText ?? "1") || limit < 1 || limit > ENTRIES_SHOWN_MAX) {
    throw new TidemarkError("INVALID_REQUEST", `limit must be 1–${ENTRIES_SHOWN_MAX}`);
  }
  const view = (entries: OutboxEntryView[]) => entries.slice(0, limit);
  return {
    ...outbox.stats(),
    pendingEntries: view(outbox.pending(limit)),
    conflictEntries: view(outbox.conflicts()),
    deadLetterEntries: view(outbox.deadLetters()),
    writable,
  };
}

function find(ctx: ServerContext, name: string): Outbox {
  const outbox = ctx.served.outboxes.get(name);
  if (outbox === undefined) {
    throw new TidemarkError(
      "NOT_FOUND",
      `this server runs no outbox named ${JSON.stringify(name)}`,
    );
  }
  return outbox;
}

/** The enqueue body, field by field: anything unknown or mistyped is refused, naming it. */
function enqueueInput(value: unknown): OutboxEntryInput {
  const body = object(value, "the body");
  for (const key of Object.keys(body)) {
    if (!ENQUEUE_FIELDS.has(key)) {
      throw new TidemarkError("INVALID_REQUEST", `unknown field ${JSON.stringify(key)}`);
    }
  }
  for (const key of ["key", "method", "target", "body", "bodyBase64"]) {
    if (body[key] !== undefined && typeof body[key] !== "string") {
      throw new TidemarkError("INVALID_REQUEST", `${key} must be a string`);
    }
  }
  if (body["body"] !== undefined && body["bodyBase64"] !== undefined) {
    throw new TidemarkError("INVALID_REQUEST", "give body or bodyBase64, not both");
  }
  const base64 = body["bodyBase64"] as string | undefined;
  if (base64 !== undefined && !BASE64.test(base64)) {
    throw new TidemarkError("INVALID_REQUEST", "bodyBase64 is not base64");
  }
  return {
    ...(body["key"] === undefined ? {} : { key: body["key"] as string }),
    ...(body["method"] === undefined ? {} : { method: body["method"] as string }),
    ...(body["target"] === undefined ? {} : { target: body["target"] as string }),
    ...(body["headers"] === undefined
      ? {}
      : { headers: body["headers"] as Record<string, string> }), // checked by the outbox
    ...(body["precondition"] === undefined
      ? {}
      : { precondition: body["precondition"] as Precondition }),
    body:
      base64 !== undefined
        ? new Uint8Array(Buffer.from(base64, "base64"))
        : ((body["body"] as string | undefined) ?? ""),
  };
}

function retryOptions(value: unknown): RetryOptions {
  const body = object(value, "the body");
  for (const key of Object.keys(body)) {
    if (key !== "precondition" && key !== "headers") {
      throw new TidemarkError("INVALID_REQUEST", `unknown field ${JSON.stringify(key)}`);
    }
  }
  return {
    ...(body["precondition"] === undefined
      ? {}
      : { precondition: body["precondition"] as Precondition }),
    ...(body["headers"] === undefined
      ? {}
      : { headers: body["headers"] as Record<string, string> }),
  };
}

/** An entry body may be as large as a request body, and base64 makes it a third larger. */
function enqueueBodyBytesMax(ctx: ServerContext): number {
  return Math.ceil(ctx.limits.bodyBytesMax / 3) * 4 + 64 * 1024;
}

async function readJson(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  bytesMax: number,
): Promise<unknown> {
  const body = await ctx.bodies.read(req, res, bytesMax);
  if (body.byteLength === 0) return {};
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new TidemarkError("INVALID_REQUEST", "the body is not valid JSON");
  }
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TidemarkError("INVALID_REQUEST", `${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

function allow(method: string, allowed: string): void {
  if (!allowed.split(", ").includes(method)) {
    throw new TidemarkError("METHOD_NOT_ALLOWED", `${method} is not supported here`, {
      allow: allowed,
    });
  }
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new TidemarkError(
      "INVALID_NAME",
      "the outbox name or entry id is not valid percent-encoding",
    );
  }
}

function noEntry(name: string, id: string): TidemarkError {
  return new TidemarkError("NOT_FOUND", `outbox ${name} holds no entry ${JSON.stringify(id)}`);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  send(
    res,
    status,
    { "content-type": "application/json", "cache-control": "no-store" },
    JSON.stringify(body),
  );
}
