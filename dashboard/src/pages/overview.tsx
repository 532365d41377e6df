/**
 * The overview: the journal against its limits, streams, live readers, appends/s and bytes
 * read/s over the last minutes, the outboxes' state, and what recovery repaired at open.
 */
import type { OutboxList, StatsView } from "../../../src/server/admin/wire-types.js";
import { api } from "../api.js";
import { LiveChart } from "../components/live-chart.js";
import { Badge, Card, Empty, ErrorBox, Loading, Meter, Stat, toneOf } from "../components/ui.js";
import {
  formatAgo,
  formatBytes,
  formatCount,
  formatDuration,
  formatPercent,
  formatRate,
} from "../format.js";
import { href } from "../router.js";
import { useStatsFeed } from "../stats-feed.js";
import { usePoll } from "../use-poll.js";

export function Overview() {
  const feed = useStatsFeed();
  const outboxes = usePoll(api.outboxes, 2000, []);
  const stats = feed.latest;
  if (stats === null) {
    return feed.error === null ? <Loading /> : <ErrorBox error={feed.error} what="journal stats" />;
  }
  const rates = feed.rates;
  const lastRate = (series: number[]) => series.at(-1) ?? 0;
  return (
    <div class="page">
      <ErrorBox error={feed.error} what="journal stats" />
      <div class="grid stats-row">
        <JournalCard stats={stats} />
        <DiskCard stats={stats} />
        <Card>
          <Stat
            label="Streams"
            id="streams"
            raw={stats.streams}
            value={formatCount(stats.streams)}
            hint={
              <>
                <span data-stat="records" data-value={stats.journal.records}>
                  {formatCount(stats.journal.records)}
                </span>{" "}
                {stats.journal.records === 1 ? "record" : "records"} in all{" "}
                {formatCount(stats.journal.streams)} journal streams (with internal ones)
                {stats.streams === 0 ? (
                  <>
                    {" "}
                    · <a href={href.streams()}>how to make one</a>
                  </>
                ) : null}
              </>
            }
          />
        </Card>
        <Card>
          <Stat
            label="Live readers"
            id="live"
            raw={stats.live.sse + stats.live.longPoll}
            value={formatCount(stats.live.sse + stats.live.longPoll)}
            hint={
              <>
                <span data-stat="live-sse" data-value={stats.live.sse}>
                  {formatCount(stats.live.sse)}
                </span>{" "}
                SSE ·{" "}
                <span data-stat="live-long-poll" data-value={stats.live.longPoll}>
                  {formatCount(stats.live.longPoll)}
                </span>{" "}
                long-poll · at most {formatCount(stats.live.max)}
              </>
            }
          />
        </Card>
      </div>
      <div class="grid charts-row">
        <Card
          title="Appends per second"
          actions={
            <span class="chart-now" data-stat="appends-rate">
              {formatRate(lastRate(rates.appends))}/s · {formatBytes(lastRate(rates.appendBytes))}/s
            </span>
          }
        >
          <LiveChart
            t={rates.t}
            values={rates.appends}
            version={feed.version}
            color="#0d9488"
            label="appends/s"
            format={formatRate}
          />
        </Card>
        <Card
          title="Bytes read per second"
          actions={
            <span class="chart-now" data-stat="read-rate">
              {formatBytes(lastRate(rates.readBytes))}/s
            </span>
          }
        >
          <LiveChart
            t={rates.t}
            values={rates.readBytes}
            version={feed.version}
            color="#6366f1"
            label="read/s"
            floor={1024}
            format={(value) => formatBytes(value)}
          />
        </Card>
      </div>
      <div class="grid two">
        <OutboxSummary list={outboxes.data} error={outboxes.error} />
        <RecoveryCard stats={stats} />
      </div>
      <ReleasedCard stats={stats} />
    </div>
  );
}

function JournalCard({ stats }: { stats: StatsView }) {
  const { bytes, bytesMax, discard } = stats.journal;
  const fraction = bytesMax === null ? null : bytes / bytesMax;
  return (
    <Card>
      <Stat
        label="Journal size"
        id="journal-bytes"
        raw={bytes}
        value={formatBytes(bytes)}
        tone={toneOf(fraction)}
        hint={
          bytesMax === null ? (
            "no bytesMax: bounded only by the disk"
          ) : (
            <>
              {formatPercent(fraction)} of bytesMax{" "}
              <span data-stat="bytes-max" data-value={bytesMax}>
                {formatBytes(bytesMax)}
              </span>{" "}
              · {discard === "old" ? "evicts the oldest" : "refuses appends"} when full
            </>
          )
        }
      />
      <Meter fraction={fraction} label="journal bytes / bytesMax" />
    </Card>
  );
}

function DiskCard({ stats }: { stats: StatsView }) {
  const { diskFreeBytes: free, diskFreeBytesMin: min } = stats.journal;
  // How close the free space is to the floor: full when free reaches the minimum.
  const pressure = free === null ? null : free <= min ? 1 : min / free;
  const tone = free === null ? "" : free <= min ? "bad" : free < min * 2 ? "warn" : "ok";
  return (
    <Card>
      <Stat
        label="Disk free"
        id="disk-free"
        raw={free}
        value={free === null ? "unknown" : formatBytes(free)}
        tone={tone}
        hint={
          <>
            appends refused below diskFreeBytesMin{" "}
            <span data-stat="disk-free-min" data-value={min}>
              {formatBytes(min)}
            </span>
            {free === null || free <= min ? null : <> · {formatBytes(free - min)} to go</>}
          </>
        }
      />
      {pressure !== null && pressure > 0.05 ? (
        <Meter fraction={pressure} tone={tone} label="diskFreeBytesMin / free" />
      ) : null}
    </Card>
  );
}

function OutboxSummary({ list, error }: { list: OutboxList | undefined; error: unknown }) {
  return (
    <Card title="Outboxes" actions={<a href={href.outboxes()}>All outboxes →</a>}>
      {error !== undefined ? (
        <ErrorBox error={error as never} what="outboxes" />
      ) : list === undefined ? (
        <Loading />
      ) : list.outboxes.length === 0 && list.mirrors.length === 0 ? (
        <Empty>
          No outboxes or mirrors. They come from the <code>outboxes</code> and <code>mirrors</code>{" "}
          keys of the server's config.
        </Empty>
      ) : (
        <table class="table compact">
          <thead>
            <tr>
              <th>Outbox</th>
              <th class="num">Pending</th>
              <th class="num">Conflicts</th>
              <th class="num">Dead letters</th>
              <th>Upstream</th>
            </tr>
          </thead>
          <tbody>
            {list.outboxes.map((o) => (
              <tr key={o.name} data-outbox={o.name}>
                <td>
                  <a href={href.outboxes(o.name)}>{o.name}</a>
                </td>
                <td class="num" data-stat="outbox-pending" data-value={o.pending}>
                  {formatCount(o.pending)}
                  {o.inFlight > 0 ? <span class="muted"> ({o.inFlight} in flight)</span> : null}
                </td>
                <td class="num" data-stat="outbox-conflicts" data-value={o.conflicts}>
                  {o.conflicts > 0 ? <Badge tone="warn">{o.conflicts}</Badge> : "0"}
                </td>
                <td class="num" data-stat="outbox-dead" data-value={o.deadLetters}>
                  {o.deadLetters > 0 ? <Badge tone="bad">{o.deadLetters}</Badge> : "0"}
                </td>
                <td>
                  {o.upstreamDown ? <Badge tone="bad">down</Badge> : <Badge tone="ok">up</Badge>}
                </td>
              </tr>
            ))}
            {list.mirrors.map((m) => (
              <tr key={`${m.source}→${m.target}`}>
                <td>
                  mirror <a href={href.stream(m.source)}>{m.source}</a>
                </td>
                <td class="num">{formatCount(m.behind)} behind</td>
                <td class="num">—</td>
                <td class="num">—</td>
                <td>
                  {m.halted !== null ? (
                    <Badge tone="bad" title={m.halted}>
                      halted
                    </Badge>
                  ) : (
                    <Badge tone="ok">copying</Badge>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

const RECOVERY_TONES: Record<string, "bad" | "warn" | "info"> = {
  corrupt: "bad",
  "torn-tail": "warn",
  redone: "info",
  "removed-segment": "warn",
};

function RecoveryCard({ stats }: { stats: StatsView }) {
  return (
    <Card
      title="Recovery at open"
      actions={
        <span class="muted" data-stat="recovery-events" data-value={stats.recoveryEvents}>
          {formatCount(stats.recoveryEvents)} {stats.recoveryEvents === 1 ? "event" : "events"} ·
          opened {formatAgo(stats.startedAt, stats.now)}
        </span>
      }
    >
      {stats.recovery.length === 0 ? (
        <Empty>The journal opened clean: no torn tail, nothing corrupt, nothing to repair.</Empty>
      ) : (
        <ul class="events">
          {[...stats.recovery].reverse().map((event, i) => (
            <li key={i} data-recovery={event.kind}>
              <Badge tone={RECOVERY_TONES[event.kind] ?? ""}>{event.kind}</Badge>
              <div>
                {event.stream === undefined ? null : (
                  <a class="mono" href={href.stream(event.stream)}>
                    {event.stream}
                  </a>
                )}
                <div class="event-message">{event.message}</div>
              </div>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

function ReleasedCard({ stats }: { stats: StatsView }) {
  const j = stats.journal;
  const released = (label: string, counts: { records: number; bytes: number }) => (
    <div class="kv">
      <span>{label}</span>
      <strong>
        {formatCount(counts.records)} records · {formatBytes(counts.bytes)}
      </strong>
    </div>
  );
  const rejected = j.rejected.STREAM_FULL + j.rejected.JOURNAL_FULL + j.rejected.DISK_FULL;
  return (
    <Card title="Since the server started">
      <div class="kv-grid">
        {released("Evicted by limits", j.evictions)}
        {released("Expired by age", j.expiries)}
        {released("Released once acknowledged", j.acknowledged)}
        {released("Trimmed", j.trimmed)}
        <div class="kv">
          <span>Appends refused for space</span>
          <strong class={rejected > 0 ? "text-bad" : ""}>
            {formatCount(rejected)}
            {rejected > 0
              ? ` (stream full ${j.rejected.STREAM_FULL}, journal full ${j.rejected.JOURNAL_FULL}, disk ${j.rejected.DISK_FULL})`
              : ""}
          </strong>
        </div>
        <div class="kv">
          <span>Streams deleted · swept idle</span>
          <strong>
            {formatCount(j.streamsDeleted)} · {formatCount(j.streamsSwept)}
          </strong>
        </div>
        <div class="kv">
          <span>fdatasyncs ({stats.durability})</span>
          <strong>{formatCount(j.syncs)}</strong>
        </div>
        <div class="kv">
          <span>Appends · bytes read · requests</span>
          <strong>
            <span data-stat="appends-total" data-value={stats.totals.appends}>
              {formatCount(stats.totals.appends)}
            </span>{" "}
            · {formatBytes(stats.totals.readBytes)} · {formatCount(stats.totals.requests)}
          </strong>
        </div>
        <div class="kv">
          <span>Up for</span>
          <strong>{formatDuration(stats.now - stats.startedAt)}</strong>
        </div>
      </div>
    </Card>
  );
}
