/**
 * SSE reads (PROTOCOL.md §5.8): catch-up, then live. Every data event is followed at once by a
 * control event (offset, cursor, up-to-date), written together in one write (sse-events.ts).
 * At the tail a reader parks with the stream's other live readers (sse-fan-out.ts). The response
 * ends when the stream closes (after a final `streamClosed` control event), after
 * `sseLifetimeMs`, or when the server shuts down; the client reconnects from its last offset.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { TidemarkError } from "../../errors.js";
import type { ServerContext } from "../context.js";
import { setCommonHeaders } from "../http/headers.js";
import { responseCursor } from "../live/cursor.js";
import { controlEvent, drained, sharedDataEvent, write } from "../live/sse-events.js";
import { SseFanOut, type SseReader } from "../live/sse-fan-out.js";
import { sseEncoding } from "../streams/content-type.js";
import type { DsStream } from "../streams/ds-stream.js";
import { parseOffsetParam } from "../streams/offsets.js";
import { collect } from "../streams/reader.js";
import { startPosition } from "./read.js";

export async function handleSse(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  ds: DsStream,
  query: URLSearchParams,
): Promise<void> {
  const offsets = query.getAll("offset");
  const start = parseOffsetParam(offsets);
  if (offsets.length === 0)
    throw new TidemarkError("MISSING_OFFSET", "an SSE read needs an offset");
  const release = ctx.metrics.liveOpened("sse", ctx.shuttingDown);
  const ended = ds.liveReaderOpened(ctx.recentBudget);
  try {
    const encoding = sseEncoding(ds.meta.contentType);
    setCommonHeaders(res);
    res.setHeader("content-type", "text/event-stream");
    res.setHeader("cache-control", "no-cache");
    if (encoding === "base64") res.setHeader("stream-sse-data-encoding", "base64");
    res.writeHead(200);
    res.flushHeaders();
    const clientCursor = query.get("cursor") ?? undefined;
    const reader: SseReader = {
      res,
      position: startPosition(ds, start),
      clientCursor,
      lastWriteMs: ctx.clock(),
      endAtMs: ctx.clock() + ctx.limits.sseLifetimeMs,
    };
    let announced = false;
    while (!req.destroyed && !ctx.shuttingDown) {
      const { position } = reader;
      const result = await collect(ctx.registry, ds, position, ctx.limits.readBytesMax);
      const closedNow = result.complete && ds.closed;
      // Every control event answers the client's own cursor (not the previous event's, which
      // would move it forward by a jitter at every event).
      const cursor = responseCursor(clientCursor, ctx.clock());
      if (result.parts.length > 0) {
        const data = sharedDataEvent(ds, encoding, position, result);
        await write(res, data + controlEvent(result.end, cursor, result.complete, closedNow));
        ctx.metrics.readBytes.inc(result.bytes);
        reader.position = result.end;
        reader.lastWriteMs = ctx.clock();
        announced = true;
        if (closedNow) break;
        if (!result.complete) continue;
      } else if (closedNow) {
        await write(res, controlEvent(position, cursor, true, true));
        break;
      } else if (!announced) {
        await write(res, controlEvent(position, cursor, true, false));
        reader.lastWriteMs = ctx.clock();
        announced = true;
      }
      if (ds.deleted || ds.meta.softDeleted || ctx.clock() >= reader.endAtMs) break;
      // At the tail: the fan-out writes new messages for this reader until it must act itself.
      const why = await SseFanOut.of(ds, ctx).park(reader, req);
      ds.touch(ctx.clock());
      if (why === "drain") await drained(res);
      else if (why === "quiet") {
        // A quiet interval: a keep-alive control event with a fresh cursor.
        await write(
          res,
          controlEvent(reader.position, responseCursor(clientCursor, ctx.clock()), true, false),
        );
        reader.lastWriteMs = ctx.clock();
      }
    }
  } finally {
    res.end();
    ended();
    release();
  }
}
