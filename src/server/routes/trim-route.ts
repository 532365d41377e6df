/**
 * `POST /v1/streams/<path>/trim` with `{"before": <seq>}` → 204: releases the stream's records
 * with seqs below `before` (the journal's trim, docs/format.md §12). It is how `tidemark trim`
 * reaches a journal the server holds; on JetStream it answers 501 NOT_SUPPORTED (a stream there
 * keeps its records until it is deleted). Needs write access to the path; without a token the
 * answer is 401 before anything says whether the stream exists.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { TidemarkError } from "../../errors.js";
import { type ServerContext, send } from "../context.js";
import type { Authorizer } from "../http/auth.js";
import { STREAM_PREFIX, streamPathOf } from "../http/request.js";

export const STREAMS_PREFIX = "/v1/streams/";
const TRIM_SUFFIX = "/trim";
/** A trim body is one small JSON object. */
const TRIM_BODY_BYTES_MAX = 1024;

export function isTrimRoute(pathname: string): boolean {
  return pathname.startsWith(STREAMS_PREFIX) && pathname.endsWith(TRIM_SUFFIX);
}

export async function handleTrim(
  ctx: ServerContext,
  auth: Authorizer,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  internal: (path: string) => boolean,
): Promise<void> {
  const raw = pathname.slice(STREAMS_PREFIX.length, pathname.length - TRIM_SUFFIX.length);
  const path = streamPathOf(STREAM_PREFIX + raw);
  auth.check(req, "write", path);
  if (req.method !== "POST") {
    throw new TidemarkError("METHOD_NOT_ALLOWED", "trim is a POST", { allow: "POST" });
  }
  if (internal(path))
    throw new TidemarkError("NOT_FOUND", `the ${path.split("/")[0]} namespace is reserved`);
  const body = await ctx.bodies.read(req, res, TRIM_BODY_BYTES_MAX);
  let before: unknown;
  try {
    before = (JSON.parse(body.toString("utf8")) as { before?: unknown }).before;
  } catch {
    throw new TidemarkError("INVALID_JSON", 'the trim body must be JSON: {"before": <seq>}');
  }
  if (typeof before !== "number" || !Number.isSafeInteger(before) || before < 1) {
    throw new TidemarkError("INVALID_REQUEST", '"before" must be a positive integer seq');
  }
  if (ctx.shuttingDown) throw new TidemarkError("SHUTTING_DOWN", "the server is shutting down");
  const ds = await ctx.registry.live(path, false);
  if (ds.stored.trim === undefined) {
    // JetStream keeps a stream's records until it is deleted (docs/jetstream.md, Limits): a
    // message holds several records and the producer state is replayed from them.
    throw new TidemarkError(
      "NOT_SUPPORTED",
      `trim is not supported on ${ctx.registry.store.kind === "jetstream" ? "NATS JetStream" : ctx.registry.store.kind}: a stream there keeps its records until it is deleted`,
    );
  }
  await ds.stored.trim(before);
  send(res, 204, {});
}
