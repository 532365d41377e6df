/**
 * Catch-up reads in one response (PROTOCOL.md §5.5): every message committed from the requested
 * offset up to the tail as of the request, with `Stream-Next-Offset` that tail and
 * `Stream-Up-To-Date: true`. The tail is known when the request arrives, so the headers go out
 * first and the body streams after them, with socket backpressure: memory is bounded by the
 * read buffer and a few output chunks, not by the response (live/response-writer.ts). Errors
 * found before the first byte (410, a fork's missing source) answer as errors; damage found
 * part way (a corrupt segment) ends the connection, which a client sees as a cut response.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ServerContext } from "../context.js";
import { setCommonHeaders } from "../http/headers.js";
import { header } from "../http/request.js";
import { ResponseWriter } from "../live/response-writer.js";
import { isJsonType } from "../streams/content-type.js";
import type { DsStream } from "../streams/ds-stream.js";
import { formatOffset } from "../streams/offsets.js";
import { messageBatches } from "../streams/reader.js";

const OPEN = Buffer.from("[");
const COMMA = Buffer.from(",");
const CLOSE = Buffer.from("]");

export async function streamCatchUp(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  ds: DsStream,
  from: number,
): Promise<void> {
  const stop = Math.max(from, ds.tail);
  const closed = ds.closed;
  const etag = `"${ds.meta.incarnation}:${from}:${stop}${closed ? ":c" : ""}"`;
  if (header(req, "if-none-match") === etag) {
    setCommonHeaders(res);
    res.setHeader("etag", etag);
    res.writeHead(304);
    res.end();
    return;
  }
  const batches = messageBatches(ctx.registry, ds, from, stop);
  let next = await batches.next(); // errors before the first byte answer as errors
  const json = isJsonType(ds.meta.contentType);
  setCommonHeaders(res);
  res.setHeader("content-type", ds.meta.contentType);
  res.setHeader("stream-next-offset", formatOffset(stop));
  res.setHeader("stream-up-to-date", "true");
  if (closed) res.setHeader("stream-closed", "true");
  res.setHeader("etag", etag);
  res.writeHead(200);
  const out = new ResponseWriter(res);
  if (json) out.write(OPEN);
  let first = true;
  try {
    while (next.done !== true && !out.closed) {
      for (const payload of next.value) {
        if (json && !first) out.write(COMMA);
        out.write(payload);
        first = false;
      }
      await out.settled(); // the batch's views are in the socket before the buffer is reused
      next = await batches.next();
    }
  } finally {
    await batches.return(undefined);
  }
  if (json) out.write(CLOSE);
  out.end();
  ctx.metrics.readBytes.inc(out.bytes);
}
