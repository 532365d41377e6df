/**
 * The bodies of subscription requests, checked field by field: the configuration of `PUT
 * /v1/stream/__ds/subscriptions/<id>` (a webhook or pull-wake subscription over a pattern and/or
 * listed streams, with its lease), the streams added to one, a claim's worker, and acks.
 */
import { TidemarkError } from "../../errors.js";
import { checkStreamPath } from "../http/request.js";
import { parseOffset } from "../streams/offsets.js";
import type { SubscriptionConfig } from "./subscription-log.js";
import { webhookUrlProblem } from "./webhook-url.js";

const LEASE_TTL_MS_DEFAULT = 30_000;
const LEASE_TTL_MS_MAX = 3_600_000;

export function parseConfig(input: unknown, nowMs: number): SubscriptionConfig {
  if (typeof input !== "object" || input === null)
    throw new TidemarkError("INVALID_REQUEST", "the body must be a JSON object");
  const body = input as Record<string, unknown>;
  if (body["type"] !== "webhook" && body["type"] !== "pull-wake") {
    throw new TidemarkError("INVALID_REQUEST", "type must be 'webhook' or 'pull-wake'");
  }
  const pattern = body["pattern"];
  if (
    pattern !== undefined &&
    (typeof pattern !== "string" || pattern.length === 0 || pattern.length > 1024)
  ) {
    throw new TidemarkError("INVALID_REQUEST", "pattern must be a non-empty string");
  }
  const streams = body["streams"];
  if (
    streams !== undefined &&
    (!Array.isArray(streams) || streams.some((s) => typeof s !== "string" || s.length === 0))
  ) {
    throw new TidemarkError("INVALID_REQUEST", "streams must be a list of stream paths");
  }
  if (pattern === undefined && (streams === undefined || (streams as unknown[]).length === 0)) {
    throw new TidemarkError("INVALID_REQUEST", "a subscription needs a pattern or streams");
  }
  for (const path of (streams as string[] | undefined) ?? []) checkStreamPath(path);
  const lease = body["lease_ttl_ms"] ?? LEASE_TTL_MS_DEFAULT;
  if (
    typeof lease !== "number" ||
    !Number.isInteger(lease) ||
    lease < 100 ||
    lease > LEASE_TTL_MS_MAX
  ) {
    throw new TidemarkError(
      "INVALID_REQUEST",
      `lease_ttl_ms must be an integer from 100 to ${LEASE_TTL_MS_MAX}`,
    );
  }
  let webhookUrl: string | null = null;
  let wakeStream: string | null = null;
  if (body["type"] === "webhook") {
    const url = (body["webhook"] as { url?: unknown } | undefined)?.url;
    const problem = webhookUrlProblem(url);
    if (problem !== undefined) throw new TidemarkError("WEBHOOK_URL_REJECTED", problem);
    webhookUrl = url as string;
  } else {
    if (typeof body["wake_stream"] !== "string" || body["wake_stream"].length === 0) {
      throw new TidemarkError("INVALID_REQUEST", "a pull-wake subscription needs wake_stream");
    }
    wakeStream = checkStreamPath(body["wake_stream"]);
  }
  const description =
    typeof body["description"] === "string" ? body["description"].slice(0, 1024) : null;
  const configKey = JSON.stringify([
    body["type"],
    pattern ?? null,
    streams ?? [],
    webhookUrl,
    wakeStream,
    lease,
    description,
  ]);
  return {
    type: body["type"],
    pattern: (pattern as string | undefined) ?? null,
    webhookUrl,
    wakeStream,
    leaseTtlMs: lease,
    description,
    createdAt: new Date(nowMs).toISOString(),
    configKey,
  };
}

/** `POST …/streams`: `{ streams: [paths] }`. */
export function parseStreamList(input: unknown): string[] {
  const streams = (input as { streams?: unknown })?.streams;
  if (
    !Array.isArray(streams) ||
    streams.some((path) => typeof path !== "string" || path.length === 0)
  ) {
    throw new TidemarkError("INVALID_REQUEST", "the body must be { streams: [paths] }");
  }
  return (streams as string[]).map(checkStreamPath);
}

/** `POST …/claim`: `{ worker: <name> }`, 1-256 characters. */
export function parseWorker(input: unknown): string {
  const worker = (input as { worker?: unknown })?.worker;
  if (typeof worker !== "string" || worker.length === 0 || worker.length > 256) {
    throw new TidemarkError("INVALID_REQUEST", "claim needs { worker: <name> }");
  }
  return worker;
}

/** The `acks` of a callback or ack: `[{ stream, offset }]`, offsets as this server writes them. */
export function parseAcks(input: unknown): Array<{ stream: string; position: number }> {
  const acks = (input as { acks?: unknown } | undefined)?.acks;
  if (acks === undefined) return [];
  if (!Array.isArray(acks)) throw new TidemarkError("INVALID_REQUEST", "acks must be a list");
  return acks.map((ack: { stream?: unknown; offset?: unknown } | null) => {
    const position = typeof ack?.offset === "string" ? parseOffset(ack.offset) : undefined;
    if (typeof ack?.stream !== "string" || position === undefined || !Number.isFinite(position)) {
      throw new TidemarkError("INVALID_REQUEST", "each ack needs { stream, offset }");
    }
    return { stream: ack.stream, position };
  });
}
