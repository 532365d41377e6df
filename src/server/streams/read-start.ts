/**
 * Where a read may start: an offset names a position the stream has reached, never one past
 * its tail. A client holding an offset past the tail (one from a stream deleted and created
 * again, from before a power loss under durability `'none'`, or made up) would otherwise be
 * told it is up to date, and once the stream grew past that point, its reads would silently
 * skip every message in between; it is answered 400 OFFSET_PAST_TAIL instead. Checked before
 * any read (catch-up, long-poll, SSE), apart from the reading itself.
 */
import { TidemarkError } from "../../errors.js";
import type { DsStream } from "./ds-stream.js";
import { formatOffset, type ReadStart } from "./offsets.js";

export function checkReadStart(ds: DsStream, start: ReadStart): void {
  if (start.kind !== "position" || start.position <= ds.tail) return;
  const tail = formatOffset(ds.tail);
  throw new TidemarkError(
    "OFFSET_PAST_TAIL",
    Number.isFinite(start.position)
      ? `offset ${formatOffset(start.position)} is past the tail of ${ds.path} (${tail}): this server never issued it; read from -1 or from an offset it returned`
      : `the offset is beyond any position this server can issue (2^53 - 1); the tail of ${ds.path} is ${tail}`,
    { stream: ds.path, tail },
  );
}
