/**
 * SSE reads (PROTOCOL.md §5.8): catch-up, then live. Every data event is followed at once by a
 * control event (offset, cursor, up-to-date), written together in one write. Text streams send
 * UTF-8 (every line terminator starts a new `data:` line, so a payload can never inject an event
 * boundary), JSON streams send one array per event, anything else base64. The response ends
 * when the stream closes (after a final `streamClosed` control event), after `sseLifetimeMs`,
 * or when the server shuts down; the client reconnects from its last offset.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { jsonArray, type SseEncoding, sseEncoding } from "./content-type.js";
import type { ServerContext } from "./context.js";
import { responseCursor } from "./cursor.js";
import type { DsStream } from "./ds-stream.js";
import { setCommonHeaders } from "./headers.js";
import { badRequest } from "./http-error.js";
import { formatOffset, parseOffsetParam } from "./offsets.js";
import { startPosition } from "./read.js";
import { type Collected, collect, concat } from "./reader.js";
import { waitForChange } from "./wait.js";

export async function handleSse(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  ds: DsStream,
  query: URLSearchParams,
): Promise<void> {
  const offsets = query.getAll("offset");
  const start = parseOffsetParam(offsets);
  if (offsets.length === 0) throw badRequest("MISSING_OFFSET", "an SSE read needs an offset");
  const release = ctx.metrics.liveOpened("sse", ctx);
  const ended = ds.liveReaderOpened(ctx.recentBudget);
  try {
    const encoding = sseEncoding(ds.meta.contentType);
    setCommonHeaders(res);
    res.setHeader("content-type", "text/event-stream");
    res.setHeader("cache-control", "no-cache");
    if (encoding === "base64") res.setHeader("stream-sse-data-encoding", "base64");
    res.writeHead(200);
    res.flushHeaders();
    let position = startPosition(ds, start);
    // Every control event answers the client's own cursor (not the previous event's, which
    // would move it forward by a jitter at every event).
    const clientCursor = query.get("cursor") ?? undefined;
    let cursor = responseCursor(clientCursor, ctx.clock());
    const endAt = ctx.clock() + ctx.limits.sseLifetimeMs;
    let announced = false;
    while (!req.destroyed && !ctx.shuttingDown) {
      const result = await collect(ctx.registry, ds, position, ctx.limits.readBytesMax);
      const closedNow = result.complete && ds.closed;
      cursor = responseCursor(clientCursor, ctx.clock());
      if (result.parts.length > 0) {
        const data = sharedDataEvent(ds, encoding, position, result);
        await write(res, data + controlEvent(result.end, cursor, result.complete, closedNow));
        ctx.metrics.readBytes.inc(result.bytes);
        position = result.end;
        announced = true;
        if (closedNow) break;
        if (!result.complete) continue;
      } else if (closedNow) {
        await write(res, controlEvent(position, cursor, true, true));
        break;
      } else if (!announced) {
        await write(res, controlEvent(position, cursor, true, false));
        announced = true;
      }
      if (ds.deleted || ds.meta.softDeleted || ctx.clock() >= endAt) break;
      const before = ds.tail;
      await waitForChange(
        ds,
        req,
        Math.min(ctx.limits.longPollTimeoutMs, endAt - ctx.clock()),
        ctx,
      );
      ds.touch(ctx.clock());
      if (ds.tail === before && !ds.closed && !req.destroyed && !ctx.shuttingDown && !ds.deleted) {
        // A quiet interval: a keep-alive control event with a fresh cursor.
        cursor = responseCursor(clientCursor, ctx.clock());
        await write(res, controlEvent(position, cursor, true, false));
      }
    }
  } finally {
    res.end();
    ended();
    release();
  }
}

/** Every live reader at the same position sends the same event: it is built once. */
function sharedDataEvent(
  ds: DsStream,
  encoding: SseEncoding,
  from: number,
  result: Collected,
): string {
  const memo = ds.sseEvent;
  if (memo !== undefined && memo.from === from && memo.end === result.end) return memo.text;
  const bytes =
    encoding === "json"
      ? jsonArray(result.parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)))
      : concat(result.parts, result.bytes);
  const text = dataEvent(encoding, bytes);
  ds.sseEvent = { from, end: result.end, text };
  return text;
}

function dataEvent(encoding: SseEncoding, bytes: Buffer): string {
  const text = encoding === "base64" ? bytes.toString("base64") : bytes.toString("utf8");
  const lines = text.split(/\r\n|\r|\n/);
  return `event: data\n${lines.map((line) => `data:${line}`).join("\n")}\n\n`;
}

function controlEvent(offset: number, cursor: string, upToDate: boolean, closed: boolean): string {
  // Built by hand (written once per reader per event): offsets and cursors are digits and "_".
  const tail = closed ? `"streamClosed":true` : `"streamCursor":"${cursor}"`;
  return `event: control\ndata:{"streamNextOffset":"${formatOffset(offset)}",${tail}${upToDate ? `,"upToDate":true` : ""}}\n\n`;
}

/** Writes, waiting for the socket to drain when it is full (a slow client holds no more). */
function write(res: ServerResponse, chunk: string): Promise<void> {
  if (res.write(chunk)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
  });
}
