/**
 * One stream: its figures, limits and how full they are, its metadata, its consumers and how
 * far behind they are, and the message browser (messages.tsx). On NATS JetStream there are no
 * stream limits, retention or durable consumers (null in the API): the cards say so.
 */
import type { StreamDetail } from "../../../src/server/admin/wire-types.js";
import { api } from "../api.js";
import { Badge, Card, Empty, ErrorBox, Loading, Meter, Stat } from "../components/ui.js";
import {
  formatAgo,
  formatBytes,
  formatCount,
  formatDuration,
  formatPercent,
  formatTime,
} from "../format.js";
import { href } from "../router.js";
import { usePoll } from "../use-poll.js";
import { Messages } from "./messages.js";

export function StreamPage({ name }: { name: string }) {
  const detail = usePoll(() => api.stream(name), 2000, [name]);
  const stream = detail.data?.name === name ? detail.data : undefined;
  return (
    <div class="page">
      <div class="page-head">
        <a class="back" href={href.streams()}>
          ← Streams
        </a>
        <h1 class="stream-name" data-stream-name={name}>
          {name}
        </h1>
        {stream === undefined ? null : <StreamBadges stream={stream} />}
      </div>
      <ErrorBox error={detail.error} what="this stream" />
      {stream === undefined ? (
        detail.error === undefined ? (
          <Loading />
        ) : null
      ) : (
        <>
          <Figures stream={stream} />
          <div class="grid two">
            <LimitsCard stream={stream} />
            <ConsumersCard stream={stream} />
          </div>
          <Messages stream={stream} />
        </>
      )}
    </div>
  );
}

function StreamBadges({ stream }: { stream: StreamDetail }) {
  return (
    <div class="badges">
      <Badge tone="info">{stream.contentType}</Badge>
      {stream.store === "jetstream" ? <Badge tone="info">NATS JetStream</Badge> : null}
      {stream.closed ? <Badge>closed</Badge> : <Badge tone="ok">open</Badge>}
      {stream.retention === "acked" ? <Badge tone="info">retention: acked</Badge> : null}
      {stream.ttlSeconds !== null ? (
        <Badge tone="warn">TTL {formatDuration(stream.ttlSeconds * 1000)}</Badge>
      ) : null}
      {stream.expiresAt !== null ? <Badge tone="warn">expires {stream.expiresAt}</Badge> : null}
      {stream.liveWaiters > 0 ? (
        <Badge tone="ok">{stream.liveWaiters} live readers waiting</Badge>
      ) : null}
    </div>
  );
}

function Figures({ stream }: { stream: StreamDetail }) {
  return (
    <div class="grid stats-row five">
      <Card>
        <Stat
          label="Records"
          id="stream-records"
          raw={stream.records}
          value={formatCount(stream.records)}
        />
      </Card>
      <Card>
        <Stat
          label={stream.store === "jetstream" ? "Payload bytes" : "Bytes on disk"}
          id="stream-bytes"
          raw={stream.bytes}
          value={formatBytes(stream.bytes)}
        />
      </Card>
      <Card>
        <Stat
          label="Seqs held"
          id="stream-last-seq"
          raw={stream.lastSeq}
          value={
            stream.records === 0
              ? "none"
              : `${formatCount(stream.firstSeq)}–${formatCount(stream.lastSeq)}`
          }
          hint={
            stream.store === "jetstream"
              ? "with gaps: JetStream positions"
              : stream.firstSeq > 1
                ? `${formatCount(stream.firstSeq - 1)} released`
                : undefined
          }
        />
      </Card>
      <Card>
        <Stat
          label="Last append"
          value={formatAgo(stream.lastAppendAt)}
          hint={stream.lastAppendAt === null ? undefined : formatTime(stream.lastAppendAt)}
        />
      </Card>
      <Card>
        <Stat
          label="Created"
          value={formatAgo(stream.createdAt)}
          hint={formatTime(stream.createdAt)}
        />
      </Card>
    </div>
  );
}

function LimitsCard({ stream }: { stream: StreamDetail }) {
  const { limits } = stream;
  const row = (label: string, value: string, fraction?: number | null) => (
    <div class="limit-row">
      <span class="limit-label">{label}</span>
      <span class="limit-value">{value}</span>
      {fraction === undefined ? null : <Meter fraction={fraction} />}
    </div>
  );
  const none =
    limits.bytesMax === undefined &&
    limits.recordsMax === undefined &&
    limits.ageMsMax === undefined;
  const meta = Object.keys(stream.meta).length === 0 ? null : JSON.stringify(stream.meta, null, 2);
  return (
    <Card title="Limits and settings">
      {stream.store === "jetstream" ? (
        <p class="muted" data-store="jetstream">
          On NATS JetStream a stream keeps its records until it is deleted: no stream limits,
          retention or trim (JetStream's own account limits apply).
        </p>
      ) : none ? (
        <p class="muted">
          No stream limits: it grows until the journal's own limits (bytesMax, disk free) act.
        </p>
      ) : null}
      {limits.bytesMax === undefined
        ? null
        : row(
            "bytesMax",
            `${formatBytes(stream.bytes)} of ${formatBytes(limits.bytesMax)} (${formatPercent(stream.bytes / limits.bytesMax)})`,
            stream.bytes / limits.bytesMax,
          )}
      {limits.recordsMax === undefined
        ? null
        : row(
            "recordsMax",
            `${formatCount(stream.records)} of ${formatCount(limits.recordsMax)} (${formatPercent(stream.records / limits.recordsMax)})`,
            stream.records / limits.recordsMax,
          )}
      {limits.ageMsMax === undefined ? null : row("ageMsMax", formatDuration(limits.ageMsMax))}
      {none
        ? null
        : row(
            "when full",
            limits.discard === "new"
              ? "refuse appends (STREAM_FULL)"
              : "release the oldest segments",
          )}
      {stream.retention === null
        ? null
        : row(
            "retention",
            stream.retention === "acked" ? "until every consumer acknowledged" : "by limits",
          )}
      {stream.expiresAtMs === null
        ? null
        : row(
            "expires",
            `${formatTime(stream.expiresAtMs)} (in ${formatDuration(stream.expiresAtMs - Date.now())})`,
          )}
      {stream.fork === null
        ? null
        : row("fork of", `${stream.fork.source} at position ${formatCount(stream.fork.offset)}`)}
      <div class="limit-row">
        <span class="limit-label">tail offset</span>
        <code class="limit-value mono small selectable">{stream.tailOffset}</code>
      </div>
      {meta === null ? null : (
        <details class="meta">
          <summary>Metadata</summary>
          <pre class="code">{meta}</pre>
        </details>
      )}
    </Card>
  );
}

function ConsumersCard({ stream }: { stream: StreamDetail }) {
  return (
    <Card title="Consumers">
      {stream.consumers === null ? (
        <Empty>
          None here: tidemark keeps no durable consumers on NATS JetStream (readers resume from
          offsets).
        </Empty>
      ) : stream.consumers.length === 0 ? (
        <Empty>
          No durable consumers. Library readers create them with <code>stream.consumer(name)</code>,
          and each mirror keeps one.
        </Empty>
      ) : (
        <table class="table compact">
          <thead>
            <tr>
              <th>Name</th>
              <th class="num">Position</th>
              <th class="num">Behind</th>
              <th>Last ack</th>
            </tr>
          </thead>
          <tbody>
            {stream.consumers.map((c) => (
              <tr key={c.name} data-consumer={c.name}>
                <td class="mono">{c.name}</td>
                <td class="num">{formatCount(c.position)}</td>
                <td class="num">
                  {c.behind === 0 ? (
                    <Badge tone="ok">caught up</Badge>
                  ) : (
                    <Badge tone={c.behind > 1000 ? "warn" : "info"}>
                      {formatCount(c.behind)} records
                    </Badge>
                  )}
                </td>
                <td class="small">{formatAgo(c.ackedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}
