/**
 * A live tail of one stream over the protocol's SSE (`?live=sse`), read with fetch rather than
 * EventSource, which cannot send the Authorization header. Each `control` event says where the
 * stream now ends; the caller then fetches the new messages through `/v1/messages` (which gives
 * seqs and times the protocol's data events do not). The server ends an SSE response after
 * `sseLifetimeMs`: the tail reconnects from the last offset it was told, and after a failure
 * waits a little longer each time (up to 5 s).
 */
import { authHeaders, pathUrl } from "./api.js";

export interface TailEvents {
  /** The stream has more (or was closed): fetch what is new. */
  onAdvance(offset: string, closed: boolean): void;
  onState(state: "connecting" | "live" | "retrying" | "closed", detail?: string): void;
}

export function liveTail(stream: string, fromOffset: string, events: TailEvents): () => void {
  const abort = new AbortController();
  void run(stream, fromOffset, events, abort.signal);
  return () => abort.abort();
}

async function run(stream: string, from: string, events: TailEvents, signal: AbortSignal) {
  let offset = from;
  let failures = 0;
  while (!signal.aborted) {
    events.onState(failures === 0 ? "connecting" : "retrying");
    try {
      const res = await fetch(
        `/v1/stream/${pathUrl(stream)}?offset=${encodeURIComponent(offset)}&live=sse`,
        { headers: { ...authHeaders(), accept: "text/event-stream" }, signal, cache: "no-store" },
      );
      if (!res.ok || res.body === null) {
        const text = await res.text().catch(() => "");
        throw new Error(`${res.status} ${text.slice(0, 200)}`);
      }
      events.onState("live");
      failures = 0;
      for await (const event of sseEvents(res.body, signal)) {
        if (event.type !== "control") continue;
        const control = JSON.parse(event.data) as {
          streamNextOffset?: string;
          streamClosed?: boolean;
        };
        if (control.streamNextOffset !== undefined) offset = control.streamNextOffset;
        events.onAdvance(offset, control.streamClosed === true);
        if (control.streamClosed === true) {
          events.onState("closed");
          return;
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      failures++;
      events.onState("retrying", String(err));
      await sleep(Math.min(5000, 250 * 2 ** failures), signal);
    }
  }
}

/** Server-Sent Events from a response body: `event:` and `data:` lines, blank-line separated. */
async function* sseEvents(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal,
): AsyncGenerator<{ type: string; data: string }> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const cancel = () => void reader.cancel().catch(() => undefined);
  signal.addEventListener("abort", cancel, { once: true });
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }); // tidemark ends lines with LF only
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let type = "message";
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) type = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        yield { type, data: data.join("\n") };
        end = buffer.indexOf("\n\n");
      }
    }
  } finally {
    signal.removeEventListener("abort", cancel);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
