/**
 * A Durable Streams stream as the admin API shows it: a row of the stream list, or the detail
 * of one stream with its consumers. Everything the admin API reads of a stream goes through
 * here (and the store's `describe()`), so the list, the detail and the sort keys can never
 * disagree. A row of a shared store's list is built from the stream's metadata alone
 * (`summaryRow`): figures that need its records are null there.
 */
import type { StoredSummary } from "../store/stream-store.js";
import { DEFAULT_CONTENT_TYPE } from "../streams/content-type.js";
import type { DsMeta, DsStream } from "../streams/ds-stream.js";
import { formatOffset } from "../streams/offsets.js";
import type { StoreKind, StreamDetail, StreamRow, StreamSort } from "./wire-types.js";

/** Whether the list shows the stream: not deleted, not kept only for forks, not expired. */
export function isListed(ds: DsStream, nowMs: number): boolean {
  return !ds.deleted && !ds.meta.softDeleted && nowMs < ds.expiresAtMs();
}

/** A row whose stream is open here: every figure known. */
type KnownRow = Omit<StreamDetail, "store" | "consumers" | "trimmable" | "meta" | "liveWaiters">;

export function streamRow(ds: DsStream): KnownRow {
  const figures = ds.stored.describe();
  const limits = figures.limits ?? {};
  const expires = ds.expiresAtMs();
  return {
    name: ds.path,
    records: figures.records,
    bytes: figures.bytes,
    firstSeq: figures.firstSeq,
    lastSeq: figures.lastSeq,
    createdAt: figures.createdAt,
    lastAppendAt: figures.lastAppendAt,
    contentType: ds.meta.contentType,
    closed: ds.closed,
    ttlSeconds: ds.meta.ttlSeconds,
    expiresAt: ds.meta.expiresAt,
    expiresAtMs: Number.isFinite(expires) ? expires : null,
    limits,
    retention: figures.retention,
    full: fullness(figures.bytes, figures.records, limits),
    tailOffset: formatOffset(ds.tail),
    fork:
      ds.meta.fork === null ? null : { source: ds.meta.fork.source, offset: ds.meta.fork.offset },
  };
}

export function streamDetail(ds: DsStream, store: StoreKind): StreamDetail {
  const row = streamRow(ds);
  const { ds: _server, ...meta } = ds.stored.meta as Record<string, unknown>;
  const heldFrom = row.firstSeq - 1;
  const consumers = ds.stored.consumers?.();
  return {
    ...row,
    store,
    consumers:
      consumers?.map((consumer) => {
        const position = consumer.position;
        return {
          name: consumer.name,
          position,
          // Records retention released are not waiting for the consumer: count from the first held.
          behind: Math.max(0, row.lastSeq - Math.max(position, heldFrom)),
          ackedAt: consumer.ackedAt,
        };
      }) ?? null,
    trimmable: ds.stored.trim !== undefined,
    meta,
    liveWaiters: ds.liveWaiters,
  };
}

/** Whether a listing shows a stream it knows by its metadata only (see isListed). */
export function isSummaryListed(summary: StoredSummary, nowMs: number): boolean {
  const meta = dsMetaOf(summary);
  return !meta.softDeleted && nowMs < summaryExpiresAtMs(summary, meta);
}

/** A row from the stream's metadata alone (a shared store's list): no figures of its records. */
export function summaryRow(summary: StoredSummary): StreamRow {
  const meta = dsMetaOf(summary);
  const expires = summaryExpiresAtMs(summary, meta);
  return {
    name: summary.name,
    records: null,
    bytes: null,
    firstSeq: null,
    lastSeq: null,
    createdAt: summary.createdAt,
    lastAppendAt: null,
    contentType: meta.contentType,
    closed: null,
    ttlSeconds: meta.ttlSeconds,
    expiresAt: meta.expiresAt,
    expiresAtMs: Number.isFinite(expires) ? expires : null,
    limits: {},
    retention: null,
    full: null,
    tailOffset: null,
    fork: meta.fork === null ? null : { source: meta.fork.source, offset: meta.fork.offset },
  };
}

/** As DsStream.expiresAtMs, with the last use any process stored (or the creation). */
function summaryExpiresAtMs(summary: StoredSummary, meta: DsMeta): number {
  if (meta.ttlSeconds !== null) {
    return (summary.lastAccessMs ?? summary.createdAt) + meta.ttlSeconds * 1000;
  }
  if (meta.expiresAt !== null) return Date.parse(meta.expiresAt);
  return Number.POSITIVE_INFINITY;
}

function dsMetaOf(summary: StoredSummary): DsMeta {
  const stored = (summary.meta as { ds?: Partial<DsMeta> }).ds ?? {};
  return {
    contentType: stored.contentType ?? DEFAULT_CONTENT_TYPE,
    ttlSeconds: stored.ttlSeconds ?? null,
    expiresAt: stored.expiresAt ?? null,
    incarnation: stored.incarnation ?? "",
    softDeleted: stored.softDeleted ?? false,
    fork: stored.fork ?? null,
  };
}

/** The figure a list sorted by `sort` orders by (null where a stream has none). */
export function sortValue(ds: DsStream, sort: Exclude<StreamSort, "name">): number | null {
  const figures = ds.stored.describe();
  switch (sort) {
    case "records":
      return figures.records;
    case "bytes":
      return figures.bytes;
    case "lastAppendAt":
      return figures.lastAppendAt;
    case "full":
      return fullness(figures.bytes, figures.records, figures.limits ?? {});
  }
}

/** The larger of bytes / bytesMax and records / recordsMax, or null without either limit. */
export function fullness(
  bytes: number,
  records: number,
  limits: { bytesMax?: number; recordsMax?: number },
): number | null {
  const parts: number[] = [];
  if (limits.bytesMax !== undefined) parts.push(bytes / limits.bytesMax);
  if (limits.recordsMax !== undefined) parts.push(records / limits.recordsMax);
  return parts.length === 0 ? null : Math.max(...parts);
}
