/**
 * PUT: create a stream (PROTOCOL.md §5.1), already closed (§4.1), or as a fork (§4.2). A PUT
 * that matches an existing stream's configuration is idempotent (200); any difference is 409.
 * A PUT's body is the stream's initial content, so on an existing stream a body is accepted
 * only as a retry of the PUT that created it (the same bytes, 200); any other body would be
 * dropped, so it is refused with 409 rather than answered 200 (append with POST instead).
 */

import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { TidemarkError } from "../../errors.js";
import { absoluteUrl, type ServerContext, send } from "../context.js";
import {
  header,
  isTrue,
  parseExpiresAt,
  parseSubOffset,
  parseTtl,
  STREAM_PREFIX,
  streamPathOf,
} from "../http/request.js";
import { DEFAULT_CONTENT_TYPE, isJsonType, normalizeContentType } from "../streams/content-type.js";
import { newIncarnation } from "../streams/ds-registry.js";
import type { DsMeta, DsStream, ForkOf } from "../streams/ds-stream.js";
import { JSON_MESSAGES_PER_APPEND_MAX, recordMessages } from "../streams/json-splitter.js";
import { formatOffset, parseOffset } from "../streams/offsets.js";
import { collect } from "../streams/reader.js";
import { JsonBody, jsonMessages } from "./json-body.js";

interface CreateRequest {
  contentType: string | undefined;
  ttlSeconds: number | null;
  expiresAt: string | null;
  closed: boolean;
  forkedFrom: string | undefined;
  forkOffset: number | undefined;
  subOffset: number;
}

export async function handleCreate(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  pathname: string,
): Promise<void> {
  const request = parseCreate(req, ctx.clock());
  const checked = isJsonType(expectedType(ctx, request)) ? new JsonBody() : undefined;
  const body = await ctx.bodies.read(req, res, ctx.limits.bodyBytesMax, checked);
  await ctx.registry.exclusive(path, async () => {
    const existing = await existingStream(ctx, path);
    if (existing !== undefined) {
      const difference = configDifference(existing, request);
      if (difference !== undefined) {
        throw new TidemarkError(
          "STREAM_EXISTS",
          `a stream with another configuration exists at ${path}: this PUT asks for ${difference}`,
          { stream: path },
        );
      }
      checkBodyOfExisting(existing, body, checked);
      send(res, 200, streamHeaders(existing));
      return;
    }
    const ds = await create(ctx, path, request, body, checked);
    ctx.metrics.streamsCreated.inc();
    if (ds.tail > ds.base) ctx.subscriptions.onAppend(path);
    send(res, 201, { ...streamHeaders(ds), location: absoluteUrl(req, pathname) });
  });
}

function parseCreate(req: IncomingMessage, nowMs: number): CreateRequest {
  const raw = header(req, "content-type");
  const ttlSeconds = parseTtl(header(req, "stream-ttl"));
  const expiresAt = parseExpiresAt(header(req, "stream-expires-at"), nowMs);
  if (ttlSeconds !== null && expiresAt !== null) {
    throw new TidemarkError(
      "INVALID_EXPIRY",
      "Stream-TTL and Stream-Expires-At cannot both be given",
    );
  }
  const forkedFrom = header(req, "stream-forked-from");
  const forkOffsetRaw = header(req, "stream-fork-offset");
  const subOffsetRaw = header(req, "stream-fork-sub-offset");
  if (forkedFrom === undefined && (forkOffsetRaw !== undefined || subOffsetRaw !== undefined)) {
    throw new TidemarkError(
      "INVALID_FORK",
      "Stream-Fork-Offset and Stream-Fork-Sub-Offset need Stream-Forked-From",
    );
  }
  let forkOffset: number | undefined;
  if (forkOffsetRaw !== undefined) {
    forkOffset = parseOffset(forkOffsetRaw.trim());
    if (forkOffset === undefined)
      throw new TidemarkError(
        "INVALID_FORK",
        `Stream-Fork-Offset ${JSON.stringify(forkOffsetRaw)} is not an offset`,
      );
  }
  return {
    contentType: normalizeContentType(raw) === undefined ? undefined : raw!.trim(),
    ttlSeconds,
    expiresAt,
    closed: isTrue(header(req, "stream-closed")),
    forkedFrom,
    forkOffset,
    subOffset: parseSubOffset(subOffsetRaw),
  };
}

/** The content type the new stream will have, as far as is known before its body is read. */
function expectedType(ctx: ServerContext, request: CreateRequest): string {
  if (request.contentType !== undefined) return request.contentType;
  if (request.forkedFrom === undefined) return DEFAULT_CONTENT_TYPE;
  const source = ctx.registry.peek(forkSourcePath(request.forkedFrom));
  return source?.meta.contentType ?? DEFAULT_CONTENT_TYPE;
}

/** The digest of a PUT's body, kept with the stream so a retry of that PUT is recognized. */
function bodyDigest(body: Buffer): string {
  return createHash("sha256").update(body).digest("base64url");
}

/**
 * A PUT with content on an existing stream: a retry of the creating PUT (the same body) is
 * idempotent; anything else would be dropped, so it is refused.
 */
function checkBodyOfExisting(ds: DsStream, body: Buffer, checked: JsonBody | undefined): void {
  if (body.byteLength === 0) return;
  if (ds.meta.initialDigest === bodyDigest(body)) return;
  // A JSON body with no messages (`[]`) adds nothing: there is nothing to drop.
  if (isJsonType(ds.meta.contentType) && jsonMessages(body, checked).length === 0) return;
  throw new TidemarkError(
    "STREAM_EXISTS",
    `the stream at ${ds.path} exists; a PUT's body is only a new stream's initial content (append to it with POST)`,
  );
}

/** The stream now at `path`, after expiring it if due; 409 if only soft-deleted remains. */
async function existingStream(ctx: ServerContext, path: string): Promise<DsStream | undefined> {
  const ds = await ctx.registry.find(path);
  if (ds === undefined) return undefined;
  try {
    return await ctx.registry.live(path, false);
  } catch (err) {
    if (err instanceof TidemarkError && err.code === "GONE") {
      throw new TidemarkError(
        "STREAM_DELETED",
        `the stream at ${path} was deleted and still has forks; its path is not free yet`,
      );
    }
    if (err instanceof TidemarkError && err.code === "NOT_FOUND") return undefined;
    throw err;
  }
}

/** The first setting in which `request` differs from the existing stream, or undefined. */
function configDifference(ds: DsStream, request: CreateRequest): string | undefined {
  const { meta } = ds;
  const type = normalizeContentType(
    request.contentType ??
      (request.forkedFrom === undefined ? DEFAULT_CONTENT_TYPE : meta.contentType),
  );
  if (type !== normalizeContentType(meta.contentType)) {
    return `content type ${JSON.stringify(type)}, the stream's is ${JSON.stringify(meta.contentType)}`;
  }
  const expiryGiven = request.ttlSeconds !== null || request.expiresAt !== null;
  if (expiryGiven || meta.fork === null) {
    if (request.ttlSeconds !== meta.ttlSeconds) {
      return `Stream-TTL ${request.ttlSeconds ?? "(none)"}, the stream's is ${meta.ttlSeconds ?? "(none)"}`;
    }
    if (request.expiresAt !== meta.expiresAt) {
      return `Stream-Expires-At ${request.expiresAt ?? "(none)"}, the stream's is ${meta.expiresAt ?? "(none)"}`;
    }
  }
  if (request.closed !== ds.pending.closed) {
    return ds.pending.closed
      ? "an open stream, the stream is closed"
      : "a closed stream, the stream is open";
  }
  const source = request.forkedFrom === undefined ? null : forkSourcePath(request.forkedFrom);
  if (source !== (meta.fork?.source ?? null)) {
    return `Stream-Forked-From ${source ?? "(none)"}, the stream's is ${meta.fork?.source ?? "(none)"}`;
  }
  if (meta.fork !== null) {
    if (request.forkOffset !== undefined && request.forkOffset !== meta.fork.offset) {
      return "another Stream-Fork-Offset than the stream's";
    }
    if (request.subOffset !== meta.fork.subOffset)
      return "another fork sub-offset than the stream's";
  }
  return undefined;
}

export function forkSourcePath(forkedFrom: string): string {
  const pathname = forkedFrom.trim();
  if (!pathname.startsWith(STREAM_PREFIX)) {
    throw new TidemarkError(
      "INVALID_FORK",
      `Stream-Forked-From must be a stream path (${STREAM_PREFIX}…)`,
    );
  }
  return streamPathOf(pathname);
}

async function create(
  ctx: ServerContext,
  path: string,
  request: CreateRequest,
  body: Buffer,
  checked: JsonBody | undefined,
): Promise<DsStream> {
  let contentType = request.contentType ?? DEFAULT_CONTENT_TYPE;
  let ttlSeconds = request.ttlSeconds;
  let expiresAt = request.expiresAt;
  let fork: ForkOf | null = null;
  let prefix: Uint8Array[] = [];
  if (request.forkedFrom !== undefined) {
    const sourcePath = forkSourcePath(request.forkedFrom);
    let source: DsStream;
    try {
      source = await ctx.registry.live(sourcePath, false);
    } catch (err) {
      if (err instanceof TidemarkError && err.code === "GONE") {
        throw new TidemarkError("SOURCE_DELETED", `the source stream ${sourcePath} was deleted`);
      }
      throw err;
    }
    if (
      request.contentType !== undefined &&
      normalizeContentType(request.contentType) !== normalizeContentType(source.meta.contentType)
    ) {
      throw new TidemarkError(
        "CONTENT_TYPE_MISMATCH",
        `a fork has its source's content type, ${source.meta.contentType}`,
      );
    }
    contentType = request.contentType ?? source.meta.contentType;
    const offset = request.forkOffset ?? source.tail;
    if (offset > source.tail) {
      throw new TidemarkError(
        "INVALID_FORK",
        `Stream-Fork-Offset is past the end of ${sourcePath}`,
      );
    }
    if (ttlSeconds === null && expiresAt === null) {
      ttlSeconds = source.meta.ttlSeconds;
      expiresAt = source.meta.expiresAt;
    }
    if (request.subOffset > 0)
      prefix = await subOffsetPrefix(ctx, source, offset, request.subOffset, contentType);
    fork = { source: sourcePath, offset, subOffset: request.subOffset };
  }
  let initial: Uint8Array[] = [];
  if (body.byteLength > 0) initial = isJsonType(contentType) ? jsonMessages(body, checked) : [body];
  const meta: DsMeta = {
    contentType,
    ttlSeconds,
    expiresAt,
    incarnation: newIncarnation(),
    softDeleted: false,
    fork,
  };
  if (body.byteLength > 0) meta.initialDigest = bodyDigest(body);
  const ds = await ctx.registry.create(path, meta);
  // The inherited prefix and the initial content: one atomic batch.
  const messages = [...prefix, ...initial];
  if (messages.length > 0) await ds.appendMessages(messages, {});
  if (request.closed) await ds.close({});
  return ds;
}

/**
 * What a sub-offset fork inherits past its offset (§4.2), as the fork's own first messages: of a
 * bytes stream, the first `count` bytes of the next message; of a JSON stream, the next `count`
 * messages (each has its own position, so they may span several appends; at most what one
 * append may hold, JSON_MESSAGES_PER_APPEND_MAX and bodyBytesMax).
 */
async function subOffsetPrefix(
  ctx: ServerContext,
  source: DsStream,
  offset: number,
  count: number,
  contentType: string,
): Promise<Uint8Array[]> {
  if (isJsonType(contentType)) return jsonSubOffsetPrefix(ctx, source, offset, count);
  const next = await collect(ctx.registry, source, offset, 1);
  const message = next.parts[0];
  if (message === undefined) {
    throw new TidemarkError(
      "INVALID_FORK",
      "Stream-Fork-Sub-Offset needs a message after the fork offset",
    );
  }
  if (count > message.byteLength) {
    throw new TidemarkError(
      "INVALID_FORK",
      `Stream-Fork-Sub-Offset ${count} is past the ${message.byteLength} bytes of that append`,
    );
  }
  return [Buffer.from(message.subarray(0, count))];
}

async function jsonSubOffsetPrefix(
  ctx: ServerContext,
  source: DsStream,
  offset: number,
  count: number,
): Promise<Uint8Array[]> {
  if (count > JSON_MESSAGES_PER_APPEND_MAX) {
    throw new TidemarkError(
      "INVALID_FORK",
      `Stream-Fork-Sub-Offset may name at most ${JSON_MESSAGES_PER_APPEND_MAX} JSON messages; fork at a later offset`,
    );
  }
  const messages: Uint8Array[] = [];
  let bytes = 0;
  let from = offset;
  while (messages.length < count) {
    const next = await collect(ctx.registry, source, from, ctx.limits.readBytesMax);
    if (next.parts.length === 0) break;
    for (const record of next.parts) {
      // A record written before one-record-per-message may hold several messages.
      for (const message of recordMessages(record)) {
        bytes += message.byteLength;
        if (bytes > ctx.limits.bodyBytesMax) {
          throw new TidemarkError(
            "INVALID_FORK",
            `the ${count} messages after Stream-Fork-Offset are larger than bodyBytesMax; fork at a later offset`,
          );
        }
        messages.push(Buffer.from(message)); // a copy: the read's buffer is not kept
        if (messages.length === count) break;
      }
      if (messages.length === count) break;
    }
    from = next.end;
  }
  if (messages.length < count) {
    throw new TidemarkError(
      "INVALID_FORK",
      `Stream-Fork-Sub-Offset ${count} is past the ${messages.length} messages after Stream-Fork-Offset`,
    );
  }
  return messages;
}

export function streamHeaders(ds: DsStream): Record<string, string> {
  const headers: Record<string, string> = {
    "content-type": ds.meta.contentType,
    "stream-next-offset": formatOffset(ds.tail),
  };
  if (ds.closed) headers["stream-closed"] = "true";
  return headers;
}
