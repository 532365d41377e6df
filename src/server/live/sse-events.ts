/**
 * The bytes of SSE events (PROTOCOL.md §5.8). Text streams send UTF-8 (every line terminator
 * starts a new `data:` line, so a payload can never inject an event boundary), JSON streams send
 * one array per event, anything else base64.
 */
import type { ServerResponse } from "node:http";
import { jsonArray, type SseEncoding } from "../streams/content-type.js";
import type { DsStream } from "../streams/ds-stream.js";
import { formatOffset } from "../streams/offsets.js";
import { type Collected, concat } from "../streams/reader.js";

/** Every live reader at the same position sends the same data event: it is built once. */
export function sharedDataEvent(
  ds: DsStream,
  encoding: SseEncoding,
  from: number,
  result: Pick<Collected, "parts" | "bytes" | "end">,
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

export function controlEvent(
  offset: number,
  cursor: string,
  upToDate: boolean,
  closed: boolean,
): string {
  // Built by hand (written once per reader per event): offsets and cursors are digits and "_".
  const tail = closed ? `"streamClosed":true` : `"streamCursor":"${cursor}"`;
  return `event: control\ndata:{"streamNextOffset":"${formatOffset(offset)}",${tail}${upToDate ? `,"upToDate":true` : ""}}\n\n`;
}

/** Resolves once a full socket has drained (or closed): a slow client holds no more. */
export function drained(res: ServerResponse): Promise<void> {
  if (!res.writableNeedDrain || res.destroyed) return Promise.resolve();
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

/** Writes, waiting for the socket to drain when it is full. */
export function write(res: ServerResponse, chunk: string): Promise<void> {
  if (res.write(chunk)) return Promise.resolve();
  return drained(res);
}
