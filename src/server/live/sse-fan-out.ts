/**
 * SSE readers waiting at a stream's tail, served together. When a commit wakes a thousand
 * readers of one stream, each would otherwise run its own read, build its own event and await
 * its own timer and promise. Instead they park here: on a commit the new messages are taken once
 * from memory (recent-messages.ts), the event is built once per distinct control event (readers
 * whose cursors agree share it), and the same bytes are written to every socket. A reader
 * leaves the fan-out and runs its own loop when it must: its socket is full, the messages are
 * not in memory, more is left to read, the stream closes or goes, a keep-alive is due, its
 * lifetime ends, or the server stops.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ServerContext } from "../context.js";
import { type SseEncoding, sseEncoding } from "../streams/content-type.js";
import type { DsStream } from "../streams/ds-stream.js";
import { responseCursor } from "./cursor.js";
import { controlEvent, sharedDataEvent } from "./sse-events.js";

/** Why a parked reader was handed back: read yourself, wait for drain, send a keep-alive, or end. */
export type Unparked = "read" | "drain" | "quiet" | "end";

export interface SseReader {
  res: ServerResponse;
  /** The position after the last message the reader was sent; the fan-out moves it on. */
  position: number;
  clientCursor: string | undefined;
  /** When the reader was last written to (a keep-alive is due a long-poll timeout later). */
  lastWriteMs: number;
  /** The reader's connection ends at this time (the SSE lifetime). */
  endAtMs: number;
}

interface Parked {
  reader: SseReader;
  unpark: (why: Unparked) => void;
}

const fanOuts = new WeakMap<DsStream, SseFanOut>();

export class SseFanOut {
  private readonly parked = new Set<Parked>();
  private readonly encoding: SseEncoding;
  private cancelWait: (() => void) | undefined;
  private flushQueued = false;

  private constructor(
    private readonly ds: DsStream,
    private readonly ctx: ServerContext,
  ) {
    this.encoding = sseEncoding(ds.meta.contentType);
  }

  static of(ds: DsStream, ctx: ServerContext): SseFanOut {
    let fanOut = fanOuts.get(ds);
    if (fanOut === undefined) {
      fanOut = new SseFanOut(ds, ctx);
      fanOuts.set(ds, fanOut);
    }
    return fanOut;
  }

  /** Waits at the tail with the other readers; resolves when this reader must act itself. */
  park(reader: SseReader, req: IncomingMessage): Promise<Unparked> {
    const { ctx, ds } = this;
    if (req.destroyed || ctx.shuttingDown || ds.deleted) return Promise.resolve("end");
    if (reader.position < ds.tail || ds.closed) return Promise.resolve("read");
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const entry: Parked = {
        reader,
        unpark: (why) => {
          if (!this.parked.delete(entry)) return;
          clearTimeout(timer);
          ctx.live.delete(onStop);
          req.off("close", onStop);
          if (this.parked.size === 0) this.stopWaiting();
          resolve(why);
        },
      };
      const onStop = () => entry.unpark("end");
      const arm = () => {
        const now = ctx.clock();
        const quietAt = reader.lastWriteMs + ctx.limits.longPollTimeoutMs;
        timer = setTimeout(
          () => {
            const at = ctx.clock();
            if (at >= reader.endAtMs) entry.unpark("end");
            else if (at >= reader.lastWriteMs + ctx.limits.longPollTimeoutMs) entry.unpark("quiet");
            else arm(); // written to since: the quiet interval starts again
          },
          Math.max(0, Math.min(quietAt, reader.endAtMs) - now),
        );
      };
      this.parked.add(entry);
      ctx.live.add(onStop);
      req.once("close", onStop);
      arm();
      this.cancelWait ??= ds.onChange(this.onChange);
    });
  }

  private readonly onChange = (): void => {
    this.cancelWait = undefined; // a change wakes its waiters once
    if (this.flushQueued) return;
    this.flushQueued = true;
    // After every acknowledgement of the same commit has run: one event for all of them.
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flush();
    });
  };

  private flush(): void {
    const { ds, ctx } = this;
    if (this.parked.size === 0) return;
    if (ds.closed || ds.deleted || ds.meta.softDeleted || ctx.shuttingDown) {
      for (const entry of [...this.parked]) entry.unpark("read");
      return;
    }
    const now = ctx.clock();
    ds.touch(now);
    const tail = ds.tail;
    const groups = new Map<number, Parked[]>();
    for (const entry of this.parked) {
      const group = groups.get(entry.reader.position);
      if (group === undefined) groups.set(entry.reader.position, [entry]);
      else group.push(entry);
    }
    for (const [position, group] of groups) {
      if (position >= tail) continue;
      const recent = ds.recentAfter(position, tail, ctx.limits.readBytesMax);
      if (recent === undefined) {
        for (const entry of group) entry.unpark("read");
        continue;
      }
      const complete = recent.end >= tail;
      const data = sharedDataEvent(ds, this.encoding, position, recent);
      const byCursor = new Map<string, Buffer>();
      for (const entry of group) {
        const { reader } = entry;
        const cursor = responseCursor(reader.clientCursor, now);
        let event = byCursor.get(cursor);
        if (event === undefined) {
          event = Buffer.from(data + controlEvent(recent.end, cursor, complete, false));
          byCursor.set(cursor, event);
        }
        reader.position = recent.end;
        reader.lastWriteMs = now;
        if (!reader.res.write(event)) entry.unpark("drain");
        else if (!complete) entry.unpark("read");
      }
      ctx.metrics.readBytes.inc(recent.bytes * group.length);
    }
    if (this.parked.size > 0) this.cancelWait ??= ds.onChange(this.onChange);
  }

  private stopWaiting(): void {
    this.cancelWait?.();
    this.cancelWait = undefined;
  }
}
