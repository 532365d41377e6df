/**
 * PUT: create a stream (PROTOCOL.md §5.1), already closed (§4.1), or as a fork (§4.2). A PUT
 * that matches an existing stream's configuration is idempotent (200); any difference is 409.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { TidemarkError } from "../../errors.js";
import { absoluteUrl, type ServerContext, send } from "../context.js";
import {
  header,
  isTrue,
  parseExpiresAt,
  parseSubOffset,
  parseTtl,
  readBody,
  STREAM_PREFIX,
  streamPathOf,
} from "../http/request.js";
import {
  DEFAULT_CONTENT_TYPE,
  encodeJsonAppend,
  isJsonType,
  jsonUnitPrefix,
  normalizeContentType,
} from "../streams/content-type.js";
import { newIncarnation } from "../streams/ds-registry.js";
import type { DsMeta, DsStream, ForkOf } from "../streams/ds-stream.js";
import { formatOffset, parseOffset } from "../streams/offsets.js";
import { collect } from "../streams/reader.js";

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
  const request = parseCreate(req);
  const body = await readBody(req, ctx.limits.bodyBytesMax);
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
      send(res, 200, streamHeaders(existing));
      return;
    }
    const ds = await create(ctx, path, request, body);
    ctx.metrics.streamsCreated.inc();
    if (ds.tail > ds.base) ctx.subscriptions.onAppend(path);
    send(res, 201, { ...streamHeaders(ds), location: absoluteUrl(req, pathname) });
  });
}

function parseCreate(req: IncomingMessage): CreateRequest {
  const raw = header(req, "content-type");
  const ttlSeconds = parseTtl(header(req, "stream-ttl"));
  const expiresAt = parseExpiresAt(header(req, "stream-expires-at"));
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

/** The stream now at `path`, after expiring it if due; 409 if only soft-deleted remains. */
async function existingStream(ctx: ServerContext, path: string): Promise<DsStream | undefined> {
  const ds = ctx.registry.peek(path);
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
): Promise<DsStream> {
  let contentType = request.contentType ?? DEFAULT_CONTENT_TYPE;
  let ttlSeconds = request.ttlSeconds;
  let expiresAt = request.expiresAt;
  let fork: ForkOf | null = null;
  let prefix: Buffer | string | undefined;
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
  let initial: Buffer | string | undefined;
  if (body.byteLength > 0) {
    initial = isJsonType(contentType) ? encodeJsonAppend(body, true).unit : body;
    if (initial.length === 0) initial = undefined;
  }
  const meta: DsMeta = {
    contentType,
    ttlSeconds,
    expiresAt,
    incarnation: newIncarnation(),
    softDeleted: false,
    fork,
  };
  const ds = await ctx.registry.create(path, meta);
  if (prefix !== undefined) await ds.append(prefix, {});
  if (initial !== undefined) await ds.append(initial, {});
  if (request.closed) await ds.close({});
  return ds;
}

/** The first `count` bytes (or JSON messages) of the source's first message after `offset`. */
async function subOffsetPrefix(
  ctx: ServerContext,
  source: DsStream,
  offset: number,
  count: number,
  contentType: string,
): Promise<Buffer | string> {
  const next = await collect(ctx.registry, source, offset, 1);
  const message = next.parts[0];
  if (message === undefined) {
    throw new TidemarkError(
      "INVALID_FORK",
      "Stream-Fork-Sub-Offset needs a message after the fork offset",
    );
  }
  if (isJsonType(contentType)) {
    const prefix = jsonUnitPrefix(Buffer.from(message), count);
    if (count > prefix.available) {
      throw new TidemarkError(
        "INVALID_FORK",
        `Stream-Fork-Sub-Offset ${count} is past the ${prefix.available} messages of that append`,
      );
    }
    return prefix.unit;
  }
  if (count > message.byteLength) {
    throw new TidemarkError(
      "INVALID_FORK",
      `Stream-Fork-Sub-Offset ${count} is past the ${message.byteLength} bytes of that append`,
    );
  }
  return Buffer.from(message.subarray(0, count));
}

export function streamHeaders(ds: DsStream): Record<string, string> {
  const headers: Record<string, string> = {
    "content-type": ds.meta.contentType,
    "stream-next-offset": formatOffset(ds.tail),
  };
  if (ds.closed) headers["stream-closed"] = "true";
  return headers;
}
