/**
 * Whether an append may be made, decided when it is made (before anything is written): the
 * stream's own limits with discard 'new' (STREAM_FULL), then the journal's (JOURNAL_FULL,
 * DISK_FULL), counted against what is on disk plus what is queued, so there is no
 * check-then-write race. A refused append changes nothing and is counted in `stats().rejected`.
 */
import { StreamFullError, TidemarkError } from "../../errors.js";
import { SEGMENT_HEADER_BYTES } from "../../format/constants.js";
import type { StreamState } from "../stream/stream-state.js";
import type { WriterHost } from "./writer-host.js";

export interface AppendSize {
  bytes: number;
  records: number;
  /** What the stream has accepted and not committed yet. */
  queuedBytes: number;
  queuedRecords: number;
}

/** Throws the typed error that refuses the append, or reserves its bytes journal-wide. */
export function admitAppend(host: WriterHost, state: StreamState, size: AppendSize): void {
  const { limits } = state;
  if (limits.discard === "new") {
    // Room for one more segment header, in case this append starts a segment.
    const bytesAfter =
      state.segments.totalBytes() + size.queuedBytes + size.bytes + SEGMENT_HEADER_BYTES;
    const recordsAfter = state.records + size.queuedRecords + size.records;
    if (bytesAfter > limits.bytesMax || recordsAfter > limits.recordsMax) {
      host.counters.rejectedWith("STREAM_FULL");
      const which =
        recordsAfter > limits.recordsMax
          ? `recordsMax ${limits.recordsMax}`
          : `bytesMax ${limits.bytesMax}`;
      throw new StreamFullError(
        `stream ${JSON.stringify(state.name)} is full (${which}, discard 'new'); ` +
          "the append was not made. Trim or delete data, or raise the limit",
        { stream: state.name, bytes: size.bytes, records: state.records },
      );
    }
  }
  try {
    host.accounting.admit(size.bytes);
  } catch (err) {
    if (err instanceof TidemarkError) host.counters.rejectedWith(err.code);
    throw err;
  }
}
