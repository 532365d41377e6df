/**
 * POST: append (PROTOCOL.md §5.2), optionally closing the stream with it, or close without a
 * message. A bytes stream's body is one message; a JSON stream's body is one message per element
 * of a top-level array (§9.1.2), appended as one atomic batch with a record each, so positions
 * advance by the element count. Checks run in the protocol's order; the ones that depend on the
 * stream's coordination state (closed, producers, Stream-Seq) and the journal append happen in
 * one synchronous step, so concurrent POSTs keep their order and still share group commits.
 * On a shared store (JetStream) the append is compare-and-set: one that loses to another
 * process's is decided again once this process has caught up, and nothing is refused (closed,
 * producer fenced or gapped, Stream-Seq) before catching up once.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { TidemarkError } from "../../errors.js";
import { type ServerContext, send } from "../context.js";
import { header, isTrue, parseProducer } from "../http/request.js";
import { isJsonType, normalizeContentType } from "../streams/content-type.js";
import type { DsStream } from "../streams/ds-stream.js";
import { formatOffset } from "../streams/offsets.js";
import {
  type CoordinationChange,
  decideProducer,
  type ProducerTuple,
  streamSeqAllowed,
} from "../streams/producer-state.js";
import { JsonBody, jsonMessages } from "./json-body.js";

export async function handleAppend(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  const producer = parseProducer(req);
  const streamSeq = header(req, "stream-seq");
  const closing = isTrue(header(req, "stream-closed"));
  // A JSON stream's body is checked and split while it arrives.
  const known = ctx.registry.peek(path);
  const checked =
    known !== undefined && isJsonType(known.meta.contentType) ? new JsonBody() : undefined;
  const body = await ctx.bodies.read(req, res, ctx.limits.bodyBytesMax, checked);
  if (body.byteLength === 0 && closing) return closeOnly(ctx, res, path, producer);
  if (body.byteLength === 0)
    throw new TidemarkError(
      "EMPTY_BODY",
      "an append needs a body (or Stream-Closed: true to close)",
    );
  const contentType = normalizeContentType(header(req, "content-type"));
  if (contentType === undefined)
    throw new TidemarkError("MISSING_CONTENT_TYPE", "an append needs a Content-Type");
  let ds = await ctx.registry.live(path, true, false);
  let payloads: readonly Uint8Array[] | undefined;
  const shared = ctx.registry.store.shared;
  let caughtUp = !shared;
  /** Before refusing or answering from what may be stale: catch up once, then decide again. */
  const catchUp = async () => {
    caughtUp = true;
    ds = await ctx.registry.live(path, true);
  };
  for (let attempt = 0; ; attempt++) {
    await ds.ready();
    const state = ds.pending;
    if (state.closed && !caughtUp) {
      await catchUp();
      continue;
    }
    if (state.closed) {
      const closedBy = state.closedBy;
      if (producer !== undefined && closedBy !== null && sameTuple(producer, closedBy)) {
        await ds.producerWrite(producer.id);
        if (!ds.committed.closed) continue; // the closing append failed: decide again
        return send(res, 204, {
          ...closedHeaders(ds),
          ...producerHeaders(closedBy.epoch, closedBy.seq),
        });
      }
      throw closedError(ds);
    }
    if (contentType !== normalizeContentType(ds.meta.contentType)) {
      throw new TidemarkError(
        "CONTENT_TYPE_MISMATCH",
        `the stream's content type is ${ds.meta.contentType}`,
      );
    }
    if (producer !== undefined) {
      const decision = decideProducer(state, producer);
      if (decision.kind !== "accept" && !caughtUp) {
        await catchUp();
        continue;
      }
      if (decision.kind === "duplicate") {
        const inFlight = ds.producerWrite(producer.id);
        if (inFlight !== undefined) {
          await inFlight; // answer only once what it duplicates is committed (or failed)
          continue;
        }
        ctx.metrics.duplicates.inc();
        return send(res, 204, {
          "stream-next-offset": formatOffset(ds.tail),
          ...producerHeaders(decision.epoch, decision.highestSeq),
        });
      }
      if (decision.kind !== "accept") throw producerError(decision, producer);
    }
    if (streamSeq !== undefined && !streamSeqAllowed(state, streamSeq)) {
      if (!caughtUp) {
        await catchUp();
        continue;
      }
      throw new TidemarkError(
        "STREAM_SEQ_CONFLICT",
        `Stream-Seq ${JSON.stringify(streamSeq)} is not above the last one`,
      );
    }
    payloads ??= messagesOf(ds, body, checked);
    const change: CoordinationChange = {};
    if (producer !== undefined) change.producer = producer;
    if (streamSeq !== undefined) change.streamSeq = streamSeq;
    if (closing) change.close = true;
    const started = performance.now();
    let position: number;
    try {
      position = await ds.appendMessages(payloads, change);
    } catch (err) {
      if (!isConflict(err) || attempt >= CONFLICT_RETRIES_MAX) throw err;
      await catchUp();
      continue;
    }
    ctx.metrics.appended(body.byteLength, performance.now() - started, payloads.length);
    ctx.subscriptions.onAppend(ds.path);
    const headers: Record<string, string> = { "stream-next-offset": formatOffset(position) };
    if (closing) headers["stream-closed"] = "true";
    if (producer !== undefined)
      Object.assign(headers, producerHeaders(producer.epoch, producer.seq));
    return send(res, producer === undefined ? 204 : 200, headers);
  }
}

/** Appends that lose the compare-and-set this often in a row are answered 503 (STORE_CONFLICT). */
const CONFLICT_RETRIES_MAX = 64;

function isConflict(err: unknown): boolean {
  return err instanceof TidemarkError && err.code === "STORE_CONFLICT";
}

/** The messages of an append: the body, or a JSON body's elements (at least one). */
function messagesOf(
  ds: DsStream,
  body: Buffer,
  checked: JsonBody | undefined,
): readonly Uint8Array[] {
  if (!isJsonType(ds.meta.contentType)) return [body];
  const messages = jsonMessages(body, checked);
  if (messages.length === 0) {
    throw new TidemarkError("EMPTY_JSON_ARRAY", "an append of an empty JSON array adds nothing");
  }
  return messages;
}

/** POST with an empty body and Stream-Closed: true (PROTOCOL.md §5.3). */
async function closeOnly(
  ctx: ServerContext,
  res: ServerResponse,
  path: string,
  producer: ProducerTuple | undefined,
): Promise<void> {
  let ds = await ctx.registry.live(path, true);
  for (let attempt = 0; ; attempt++) {
    await ds.ready();
    const state = ds.pending;
    try {
      if (producer === undefined) {
        if (!state.closed) await ds.close({});
        else await ds.whenCloseStored();
        if (!ds.committed.closed) continue;
        return send(res, 204, closedHeaders(ds));
      }
    } catch (err) {
      if (!isConflict(err) || attempt >= CONFLICT_RETRIES_MAX) throw err;
      ds = await ctx.registry.live(path, true);
      continue;
    }
    if (state.closed) {
      const closedBy = state.closedBy;
      if (closedBy !== null && sameTuple(producer, closedBy)) {
        await Promise.all([ds.whenCloseStored(), ds.producerWrite(producer.id)]);
        if (!ds.committed.closed) continue;
        return send(res, 204, {
          ...closedHeaders(ds),
          ...producerHeaders(closedBy.epoch, closedBy.seq),
        });
      }
      throw closedError(ds);
    }
    const decision = decideProducer(state, producer);
    if (decision.kind === "duplicate") {
      const inFlight = ds.producerWrite(producer.id);
      if (inFlight !== undefined) {
        await inFlight;
        continue;
      }
      return send(res, 204, {
        "stream-next-offset": formatOffset(ds.tail),
        ...producerHeaders(decision.epoch, decision.highestSeq),
      });
    }
    if (decision.kind !== "accept") throw producerError(decision, producer);
    try {
      await ds.close({ producer });
    } catch (err) {
      if (!isConflict(err) || attempt >= CONFLICT_RETRIES_MAX) throw err;
      ds = await ctx.registry.live(path, true);
      continue;
    }
    return send(res, 204, {
      ...closedHeaders(ds),
      ...producerHeaders(producer.epoch, producer.seq),
    });
  }
}

function sameTuple(a: ProducerTuple, b: ProducerTuple): boolean {
  return a.id === b.id && a.epoch === b.epoch && a.seq === b.seq;
}

function producerHeaders(epoch: number, seq: number): Record<string, string> {
  return { "producer-epoch": String(epoch), "producer-seq": String(seq) };
}

function closedHeaders(ds: DsStream): Record<string, string> {
  return { "stream-next-offset": formatOffset(ds.tail), "stream-closed": "true" };
}

function closedError(ds: DsStream): TidemarkError {
  return new TidemarkError("STREAM_CLOSED", `the stream ${ds.path} is closed`, {
    stream: ds.path,
    nextOffset: formatOffset(ds.tail),
  });
}

function producerError(
  decision: ReturnType<typeof decideProducer>,
  producer: ProducerTuple,
): TidemarkError {
  switch (decision.kind) {
    case "stale-epoch":
      return new TidemarkError(
        "PRODUCER_FENCED",
        `producer epoch ${producer.epoch} is older than ${decision.currentEpoch}`,
        { currentEpoch: decision.currentEpoch },
      );
    case "bad-epoch-seq":
      return new TidemarkError(
        "PRODUCER_EPOCH_SEQ",
        "a producer's new epoch must start at Producer-Seq 0",
      );
    case "gap":
      return new TidemarkError(
        "PRODUCER_SEQ_GAP",
        `expected Producer-Seq ${decision.expectedSeq}, got ${producer.seq}`,
        { expectedSeq: decision.expectedSeq, receivedSeq: producer.seq },
      );
    default:
      return new TidemarkError("INTERNAL", "unexpected producer decision");
  }
}
