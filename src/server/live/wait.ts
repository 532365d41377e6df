/**
 * Waiting for a stream to change, bounded: until a commit, close or delete of the stream, the
 * timeout, the client going away, or the server shutting down, whichever comes first.
 */
import type { IncomingMessage } from "node:http";
import type { ServerContext } from "../context.js";
import type { DsStream } from "../streams/ds-stream.js";

export function waitForChange(
  ds: DsStream,
  req: IncomingMessage,
  timeoutMs: number,
  ctx: ServerContext,
): Promise<void> {
  return new Promise((resolve) => {
    if (timeoutMs <= 0 || req.destroyed || ctx.shuttingDown) return resolve();
    const done = () => {
      clearTimeout(timer);
      cancel();
      ctx.live.delete(done);
      req.off("close", done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    const cancel = ds.onChange(done);
    ctx.live.add(done);
    req.once("close", done);
  });
}
