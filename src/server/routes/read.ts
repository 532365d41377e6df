/**
 * GET: catch-up reads (PROTOCOL.md §5.6) and long-poll (§5.7). A response holds at most
 * `readBytesMax` of messages and says with `Stream-Up-To-Date` whether it reached the tail; the
 * client continues from `Stream-Next-Offset`. Long-poll waits on the stream's own changes (a
 * fork's, not its source's) until data, a close, or the timeout (204).
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { TidemarkError } from "../../errors.js";
import { type ServerContext, send } from "../context.js";
import { header } from "../http/request.js";
import { responseCursor } from "../live/cursor.js";
import { waitForChange } from "../live/wait.js";
import { isJsonType, jsonArray } from "../streams/content-type.js";
import type { DsStream } from "../streams/ds-stream.js";
import { formatOffset, parseOffsetParam, type ReadStart } from "../streams/offsets.js";
import { type Collected, collect } from "../streams/reader.js";
import { streamGone, streamNotFound } from "../streams/stream-errors.js";
import { streamCatchUp } from "./catch-up.js";

export async function handleRead(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  ds: DsStream,
  query: URLSearchParams,
): Promise<void> {
  const live = query.get("live");
  const offsets = query.getAll("offset");
  const start = parseOffsetParam(offsets);
  if (live === "long-poll") {
    if (offsets.length === 0)
      throw new TidemarkError("MISSING_OFFSET", "a long-poll needs an offset");
    return longPoll(ctx, req, res, ds, start, query.get("cursor") ?? undefined);
  }
  if (live !== null)
    throw new TidemarkError(
      "INVALID_LIVE",
      `live must be long-poll or sse, got ${JSON.stringify(live)}`,
    );
  if (start.kind === "now") {
    return send(
      res,
      200,
      { ...baseHeaders(ds, ds.tail, true), "cache-control": "no-store" },
      isJsonType(ds.meta.contentType) ? "[]" : "",
    );
  }
  const from = startPosition(ds, start);
  const bounded = ctx.limits.catchUpBytesMax;
  if (bounded === undefined) return streamCatchUp(ctx, req, res, ds, from);
  // Bounded responses (catchUpBytesMax): the next chunk is read ahead while this one is sent.
  const result =
    (await ctx.readAhead.take(ds, from)) ?? (await collect(ctx.registry, ds, from, bounded));
  if (!result.complete) ctx.readAhead.start(ds, result.end, bounded);
  const etag = `"${ds.meta.incarnation}:${from}:${result.end}${result.complete && ds.closed ? ":c" : ""}"`;
  if (header(req, "if-none-match") === etag) return send(res, 304, { etag });
  ctx.metrics.readBytes.inc(result.bytes);
  send(res, 200, { ...baseHeaders(ds, result.end, result.complete), etag }, body(ds, result));
}

async function longPoll(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  ds: DsStream,
  start: ReadStart,
  clientCursor: string | undefined,
): Promise<void> {
  const from = start.kind === "now" ? ds.tail : startPosition(ds, start);
  const release = ctx.metrics.liveOpened("long-poll", ctx.shuttingDown);
  const ended = ds.liveReaderOpened(ctx.recentBudget);
  try {
    const deadline = ctx.clock() + ctx.limits.longPollTimeoutMs;
    for (;;) {
      const result = await collect(ctx.registry, ds, from, ctx.limits.readBytesMax);
      const cursor = responseCursor(clientCursor, ctx.clock());
      if (result.parts.length > 0) {
        ctx.metrics.readBytes.inc(result.bytes);
        return send(
          res,
          200,
          { ...baseHeaders(ds, result.end, result.complete), "stream-cursor": cursor },
          body(ds, result),
        );
      }
      if (
        ds.closed ||
        ds.deleted ||
        ds.meta.softDeleted ||
        ctx.shuttingDown ||
        ctx.clock() >= deadline
      ) {
        if (ds.deleted) throw streamNotFound(ds.path);
        if (ds.meta.softDeleted) throw streamGone(ds.path);
        const headers = baseHeaders(ds, result.end, true);
        if (!ds.closed) headers["stream-cursor"] = cursor;
        return send(res, 204, headers);
      }
      // The tail may have moved while the read ran (a shared store catching up): read again.
      if (ds.tail > result.end) continue;
      await waitForChange(ds, req, deadline - ctx.clock(), ctx);
      if (req.destroyed) return;
      ds.touch(ctx.clock());
    }
  } finally {
    ended();
    release();
  }
}

/** Where a read starts: `-1` is the oldest message still held (0 for a fork). */
export function startPosition(ds: DsStream, start: ReadStart): number {
  if (start.kind === "position") return start.position;
  if (start.kind === "now") return ds.tail;
  return ds.meta.fork === null ? ds.firstOwnPosition : 0;
}

function baseHeaders(ds: DsStream, end: number, complete: boolean): Record<string, string> {
  const headers: Record<string, string> = {
    "content-type": ds.meta.contentType,
    "stream-next-offset": formatOffset(end),
  };
  if (complete) headers["stream-up-to-date"] = "true";
  if (complete && ds.closed) headers["stream-closed"] = "true";
  return headers;
}

function body(ds: DsStream, result: Collected): Buffer | Uint8Array[] {
  return isJsonType(ds.meta.contentType)
    ? jsonArray(result.parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)))
    : result.parts;
}
