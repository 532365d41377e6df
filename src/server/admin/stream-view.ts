/**
 * A Durable Streams stream as the admin API shows it: a row of the stream list, or the detail
 * of one stream with its consumers. Everything the admin API reads of a stream goes through
 * here, so the list, the detail and the sort keys can never disagree.
 */
import type { DsStream } from "../streams/ds-stream.js";
import { formatOffset } from "../streams/offsets.js";
import type { StreamDetail, StreamRow, StreamSort } from "./wire-types.js";

/** Whether the list shows the stream: not deleted, not kept only for forks, not expired. */
export function isListed(ds: DsStream, nowMs: number): boolean {
  return !ds.deleted && !ds.meta.softDeleted && nowMs < ds.expiresAtMs();
}

export function streamRow(ds: DsStream): StreamRow {
  const info = ds.stream.info();
  const limits = ds.stream.limits;
  const expires = ds.expiresAtMs();
  return {
    name: ds.path,
    records: info.records,
    bytes: info.bytes,
    firstSeq: info.firstSeq,
    lastSeq: info.lastSeq,
    createdAt: info.createdAt,
    lastAppendAt: info.lastAppendAt,
    contentType: ds.meta.contentType,
    closed: ds.closed,
    ttlSeconds: ds.meta.ttlSeconds,
    expiresAt: ds.meta.expiresAt,
    expiresAtMs: Number.isFinite(expires) ? expires : null,
    limits,
    retention: ds.stream.retention,
    full: fullness(info.bytes, info.records, limits),
    tailOffset: formatOffset(ds.tail),
    fork:
      ds.meta.fork === null ? null : { source: ds.meta.fork.source, offset: ds.meta.fork.offset },
  };
}

export function streamDetail(ds: DsStream): StreamDetail {
  const row = streamRow(ds);
  const { ds: _server, ...meta } = ds.stream.meta as Record<string, unknown>;
  const heldFrom = row.firstSeq - 1;
  return {
    ...row,
    consumers: ds.stream.consumers().map((consumer) => {
      const position = consumer.position;
      return {
        name: consumer.name,
        position,
        // Records retention released are not waiting for the consumer: count from the first held.
        behind: Math.max(0, row.lastSeq - Math.max(position, heldFrom)),
        ackedAt: consumer.ackedAt,
      };
    }),
    meta,
    liveWaiters: ds.liveWaiters,
  };
}

/** The figure a list sorted by `sort` orders by (null where a stream has none). */
export function sortValue(ds: DsStream, sort: Exclude<StreamSort, "name">): number | null {
  const info = ds.stream.info();
  switch (sort) {
    case "records":
      return info.records;
    case "bytes":
      return info.bytes;
    case "lastAppendAt":
      return info.lastAppendAt;
    case "full":
      return fullness(info.bytes, info.records, ds.stream.limits);
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
