/**
 * The stream list: filtered by name prefix, sorted and paged by the server (`/v1/streams`), so
 * it stays quick with 100,000 streams. The filter and the order live in the URL; the page's
 * cursors in memory (Previous goes back through the cursors that led here). On NATS JetStream
 * the rows come from each stream's metadata: figures of its records are on the stream's page,
 * and only the orders the server offers (`sorts`: by name there) are buttons.
 */
import { useEffect, useState } from "preact/hooks";
import type { StoreKind, StreamRow, StreamSort } from "../../../src/server/admin/wire-types.js";
import { api } from "../api.js";
import { Badge, Card, Empty, ErrorBox, Loading, Meter } from "../components/ui.js";
import {
  formatAgo,
  formatBytes,
  formatCount,
  formatDuration,
  formatLimits,
  formatPercent,
} from "../format.js";
import { href, replaceHash } from "../router.js";
import { usePoll } from "../use-poll.js";

const PAGE_SIZES = [25, 50, 100, 200];
const COLUMNS: Array<{ key: StreamSort | null; label: string; num?: boolean }> = [
  { key: "name", label: "Name" },
  { key: "records", label: "Records", num: true },
  { key: "bytes", label: "Bytes", num: true },
  { key: null, label: "Seqs", num: true },
  { key: "full", label: "Limits" },
  { key: "lastAppendAt", label: "Last append" },
  { key: null, label: "Content type" },
  { key: null, label: "State" },
];

export function Streams({ params }: { params: URLSearchParams }) {
  const prefix = params.get("prefix") ?? "";
  const sort = (params.get("sort") ?? "name") as StreamSort;
  const order = params.get("order") ?? (sort === "name" ? "asc" : "desc");
  const limit = Number(params.get("limit") ?? "50");
  const [cursors, setCursors] = useState<string[]>([]);
  const after = cursors.at(-1) ?? "";
  const [typed, setTyped] = useState(prefix);

  // The filter reaches the URL (and the server) a moment after the typing stops.
  useEffect(() => {
    if (typed === prefix) return;
    const timer = setTimeout(() => navigate({ prefix: typed }), 250);
    return () => clearTimeout(timer);
  }, [typed]);
  useEffect(() => setCursors([]), [prefix, sort, order, limit]);

  const page = usePoll(
    () =>
      api.streams({
        prefix,
        sort,
        order,
        limit: String(limit),
        ...(after === "" ? {} : { after }),
      }),
    3000,
    [prefix, sort, order, limit, after],
  );

  function navigate(change: Record<string, string>) {
    const next: Record<string, string> = { prefix, sort, order, limit: String(limit), ...change };
    for (const key of Object.keys(next)) if (next[key] === "") delete next[key];
    if (next["sort"] === "name") delete next["sort"];
    if (next["limit"] === "50") delete next["limit"];
    replaceHash(href.streams(next));
  }

  function sortBy(key: StreamSort) {
    if (key === sort) navigate({ order: order === "asc" ? "desc" : "asc" });
    else navigate({ sort: key, order: key === "name" ? "asc" : "desc" });
  }

  const data = page.data;
  const first = cursors.length * limit + 1;
  const sortable = (key: StreamSort) => data === undefined || data.sorts.includes(key);
  return (
    <div class="page">
      <Card
        title="Streams"
        actions={
          <span class="muted" data-stat="streams-total" data-value={data?.total}>
            {data === undefined
              ? ""
              : `${formatCount(data.total)} ${data.total === 1 ? "stream" : "streams"}${prefix === "" ? "" : ` under “${prefix}”`}`}
          </span>
        }
      >
        <div class="toolbar">
          <label class="search">
            <svg class="search-icon" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
              <circle cx="7" cy="7" r="4.8" fill="none" stroke="currentColor" stroke-width="1.6" />
              <path
                d="m10.6 10.6 3.4 3.4"
                stroke="currentColor"
                stroke-width="1.6"
                stroke-linecap="round"
              />
            </svg>
            <input
              type="search"
              placeholder="Filter by name prefix, e.g. agents/"
              value={typed}
              aria-label="Filter by name prefix"
              onInput={(e) => setTyped((e.target as HTMLInputElement).value)}
            />
          </label>
          <div class="spacer" />
          <label class="inline">
            Rows
            <select
              value={String(limit)}
              onChange={(e) => navigate({ limit: (e.target as HTMLSelectElement).value })}
            >
              {PAGE_SIZES.map((size) => (
                <option key={size} value={String(size)}>
                  {size}
                </option>
              ))}
            </select>
          </label>
        </div>
        {data?.store === "jetstream" ? (
          <p class="muted small" data-store="jetstream">
            On NATS JetStream: every process's streams, listed from their metadata by name. Records,
            bytes and seqs are on each stream's page.
          </p>
        ) : null}
        <ErrorBox error={page.error} what="these streams" />
        {data === undefined ? (
          page.error === undefined ? (
            <Loading />
          ) : null
        ) : data.streams.length === 0 ? (
          <Empty>
            {prefix === "" ? (
              <>
                No streams yet. Create one:{" "}
                <code>curl -X PUT {location.origin}/v1/stream/my/first</code>
              </>
            ) : (
              <>No stream name starts with “{prefix}”.</>
            )}
          </Empty>
        ) : (
          <div class="table-wrap">
            <table class="table streams">
              <thead>
                <tr>
                  {COLUMNS.map((column) => (
                    <th key={column.label} class={column.num ? "num" : ""}>
                      {column.key === null || !sortable(column.key) ? (
                        column.label
                      ) : (
                        <button
                          type="button"
                          class={`sort ${sort === column.key ? "active" : ""}`}
                          onClick={() => sortBy(column.key!)}
                          title={`Sort by ${column.label.toLowerCase()}`}
                        >
                          {column.label}
                          <span class="sort-arrow">
                            {sort === column.key ? (order === "asc" ? "▲" : "▼") : "↕"}
                          </span>
                        </button>
                      )}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {data.streams.map((row) => (
                  <StreamLine key={row.name} row={row} store={data.store} />
                ))}
              </tbody>
            </table>
          </div>
        )}
        {data === undefined || data.total === 0 ? null : (
          <div class="pager">
            <span class="muted">
              {formatCount(first)}–{formatCount(first + data.streams.length - 1)} of{" "}
              {formatCount(data.total)}
            </span>
            <div class="spacer" />
            <button
              type="button"
              class="button"
              disabled={cursors.length === 0}
              onClick={() => setCursors(cursors.slice(0, -1))}
            >
              ← Previous
            </button>
            <button
              type="button"
              class="button"
              disabled={data.next === null}
              onClick={() => data.next !== null && setCursors([...cursors, data.next])}
            >
              Next →
            </button>
          </div>
        )}
      </Card>
    </div>
  );
}

function StreamLine({ row, store }: { row: StreamRow; store: StoreKind }) {
  const now = Date.now();
  return (
    <tr data-stream={row.name}>
      <td class="name">
        <a href={href.stream(row.name)}>{row.name}</a>
        {row.fork === null ? null : <span class="muted small"> fork of {row.fork.source}</span>}
      </td>
      <td class="num">{formatCount(row.records)}</td>
      <td class="num">{formatBytes(row.bytes)}</td>
      <td class="num mono small">
        {row.records === null || row.records === 0
          ? "—"
          : `${formatCount(row.firstSeq)}–${formatCount(row.lastSeq)}`}
      </td>
      <td class="limits">
        {row.retention === null ? (
          <span class="muted">—</span>
        ) : row.full === null ? (
          <span class="muted">{formatLimits(row.limits)}</span>
        ) : (
          <div class="limit-cell" title={formatLimits(row.limits)}>
            <Meter fraction={row.full} />
            <span class="small">
              {formatPercent(row.full)} of {formatLimits(row.limits)}
            </span>
          </div>
        )}
        {row.retention === "acked" ? <Badge tone="info">acked</Badge> : null}
      </td>
      <td class="small">
        {store === "jetstream" ? <span class="muted">—</span> : formatAgo(row.lastAppendAt, now)}
      </td>
      <td class="mono small">{row.contentType}</td>
      <td>
        {row.closed === true ? <Badge>closed</Badge> : null}
        {row.expiresAtMs !== null ? (
          <Badge tone="warn" title={row.expiresAt ?? `TTL ${row.ttlSeconds} s`}>
            {row.ttlSeconds !== null ? `TTL ${formatDuration(row.ttlSeconds * 1000)} · ` : ""}
            expires in {formatDuration(row.expiresAtMs - now)}
          </Badge>
        ) : null}
        {row.closed === false && row.expiresAtMs === null ? (
          <span class="muted small">open</span>
        ) : null}
      </td>
    </tr>
  );
}
