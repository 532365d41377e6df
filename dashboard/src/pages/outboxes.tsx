/**
 * Outboxes: for each, pending and in flight, the upstream's health and last error, and its
 * conflicts and dead letters with their reasons, the upstream's answers and the bodies, with
 * Retry and Discard acting through the server. The buttons show only to a token that may
 * write to the outbox (the server says so: `writable`); the server checks again on each action.
 * Mirrors are listed below.
 */
import { useState } from "preact/hooks";
import type {
  MirrorStatusView,
  OutboxEntryDetail,
  OutboxEntryView,
  OutboxStatusView,
} from "../../../src/server/admin/wire-types.js";
import { ApiError, api } from "../api.js";
import { Badge, Card, Empty, ErrorBox, Loading, Stat } from "../components/ui.js";
import { formatAgo, formatBytes, formatCount, formatDuration, formatTime } from "../format.js";
import { fromBase64, hexDump } from "../payload.js";
import { href } from "../router.js";
import { usePoll } from "../use-poll.js";

export function Outboxes({ name }: { name: string | null }) {
  const list = usePoll(api.outboxes, 2000, []);
  const outboxes = list.data?.outboxes ?? [];
  const selected = name ?? outboxes[0]?.name ?? null;
  return (
    <div class="page">
      <ErrorBox error={list.error} what="outboxes" />
      {list.data === undefined ? (
        list.error === undefined ? (
          <Loading />
        ) : null
      ) : outboxes.length === 0 && list.data.mirrors.length === 0 ? (
        <Card title="Outboxes">
          <Empty>
            This server runs no outbox this token may see. Outboxes come from the{" "}
            <code>outboxes</code> key of the config, e.g.{" "}
            <code>{'"outboxes": { "sync": { "baseUrl": "https://api.example.com" } }'}</code>.
          </Empty>
        </Card>
      ) : (
        <>
          {outboxes.length === 0 ? null : (
            <div class="tabs" role="tablist">
              {outboxes.map((o) => (
                <a
                  key={o.name}
                  role="tab"
                  aria-selected={o.name === selected}
                  class={`tab ${o.name === selected ? "active" : ""}`}
                  href={href.outboxes(o.name)}
                >
                  {o.name}
                  {o.conflicts + o.deadLetters > 0 ? (
                    <Badge tone="warn">{o.conflicts + o.deadLetters}</Badge>
                  ) : null}
                  {o.upstreamDown ? <Badge tone="bad">down</Badge> : null}
                </a>
              ))}
            </div>
          )}
          {selected === null ? null : <OutboxView key={selected} name={selected} />}
          {list.data.mirrors.length === 0 ? null : <MirrorsCard mirrors={list.data.mirrors} />}
        </>
      )}
    </div>
  );
}

function OutboxView({ name }: { name: string }) {
  const detail = usePoll(() => api.outbox(name), 1500, [name]);
  const [tab, setTab] = useState<"conflicts" | "dead" | "pending">("conflicts");
  const outbox = detail.data;
  if (outbox === undefined) {
    return detail.error === undefined ? (
      <Loading />
    ) : (
      <ErrorBox error={detail.error} what="this outbox" />
    );
  }
  const entries =
    tab === "conflicts"
      ? outbox.conflictEntries
      : tab === "dead"
        ? outbox.deadLetterEntries
        : outbox.pendingEntries;
  return (
    <div class="outbox" data-outbox-view={name}>
      <ErrorBox error={detail.error} what="this outbox" />
      <StatusCards outbox={outbox} />
      <Card
        title={
          <div class="tabs inner" role="tablist">
            {(
              [
                ["conflicts", "Conflicts", outbox.conflicts],
                ["dead", "Dead letters", outbox.deadLetters],
                ["pending", "Pending", outbox.pending],
              ] as const
            ).map(([key, label, count]) => (
              <button
                key={key}
                type="button"
                role="tab"
                aria-selected={tab === key}
                class={`tab ${tab === key ? "active" : ""}`}
                onClick={() => setTab(key)}
              >
                {label}{" "}
                <span class="count" data-count={key}>
                  {formatCount(count)}
                </span>
              </button>
            ))}
          </div>
        }
        actions={
          outbox.writable ? null : (
            <Badge tone="info" title="This token may read this outbox but not change it">
              read-only
            </Badge>
          )
        }
      >
        {entries.length === 0 ? (
          <Empty>
            {tab === "conflicts"
              ? "No conflicts: no upstream has refused a precondition."
              : tab === "dead"
                ? "No dead letters: nothing was rejected for good."
                : "Nothing pending: every entry was delivered."}
          </Empty>
        ) : (
          <div class="entries" data-entries={tab}>
            {entries.map((entry) => (
              <EntryRow
                key={`${entry.id}:${entry.state}`}
                outbox={name}
                entry={entry}
                writable={outbox.writable}
                onDone={detail.refresh}
              />
            ))}
            {tab === "pending" && outbox.pending > entries.length ? (
              <p class="muted small">
                The oldest {entries.length} of {formatCount(outbox.pending)} pending entries.
              </p>
            ) : null}
          </div>
        )}
      </Card>
    </div>
  );
}

function StatusCards({ outbox }: { outbox: OutboxStatusView }) {
  return (
    <div class="grid stats-row five">
      <Card>
        <Stat
          label="Upstream"
          value={outbox.upstreamDown ? "down" : "up"}
          tone={outbox.upstreamDown ? "bad" : "ok"}
          hint={<span class="mono small">{outbox.upstream}</span>}
        />
      </Card>
      <Card>
        <Stat
          label="Pending"
          id="outbox-pending"
          raw={outbox.pending}
          value={formatCount(outbox.pending)}
          hint={`${formatCount(outbox.inFlight)} in flight · oldest ${formatDuration(outbox.oldestPendingAgeMs)}`}
        />
      </Card>
      <Card>
        <Stat
          label="Delivered"
          value={formatCount(outbox.delivered)}
          hint={`${plural(outbox.attempts, "attempt")} · ${formatCount(outbox.failedAttempts)} failed`}
        />
      </Card>
      <Card>
        <Stat
          label="Conflicts · dead letters"
          id="outbox-held"
          raw={outbox.conflicts + outbox.deadLetters}
          value={`${formatCount(outbox.conflicts)} · ${formatCount(outbox.deadLetters)}`}
          tone={outbox.conflicts + outbox.deadLetters > 0 ? "warn" : "ok"}
        />
      </Card>
      <Card>
        <Stat
          label="Last error"
          value={outbox.lastError === null ? "none" : formatAgo(outbox.lastError.at)}
          tone={outbox.lastError === null ? "" : "warn"}
          hint={
            outbox.lastError === null ? (
              outbox.running ? (
                "delivering"
              ) : (
                "stopped"
              )
            ) : (
              <span class="error-text" title={outbox.lastError.message}>
                {outbox.lastError.message}
              </span>
            )
          }
        />
      </Card>
    </div>
  );
}

function EntryRow(props: {
  outbox: string;
  entry: OutboxEntryView;
  writable: boolean;
  onDone: () => void;
}) {
  const { entry } = props;
  const [open, setOpen] = useState(false);
  const [body, setBody] = useState<OutboxEntryDetail | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [ifMatch, setIfMatch] = useState(entry.answer?.headers["etag"] ?? "");
  const [confirmDiscard, setConfirmDiscard] = useState(false);
  const held = entry.state === "conflict" || entry.state === "dead";

  async function toggle() {
    const next = !open;
    setOpen(next);
    if (next && body === undefined) {
      try {
        setBody(await api.entry(props.outbox, entry.id));
      } catch (err) {
        setError(err as ApiError);
      }
    }
  }

  async function act(action: "retry" | "discard") {
    setBusy(true);
    setError(undefined);
    try {
      if (action === "retry") {
        const precondition = ifMatch.trim() === "" ? undefined : { ifMatch: ifMatch.trim() };
        await api.retry(props.outbox, entry.id, precondition === undefined ? {} : { precondition });
      } else {
        await api.discard(props.outbox, entry.id);
      }
      props.onDone();
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, "INTERNAL", String(err)));
    } finally {
      setBusy(false);
      setConfirmDiscard(false);
    }
  }

  return (
    <div class={`entry ${open ? "open" : ""}`} data-entry={entry.id} data-state={entry.state}>
      <div class="entry-head">
        <button
          type="button"
          class="entry-toggle"
          onClick={() => void toggle()}
          aria-expanded={open}
        >
          <span class="chevron">{open ? "▾" : "▸"}</span>
          <span class="mono">{entry.id}</span>
        </button>
        <span class="method">{entry.method}</span>
        <span class="mono target" title={entry.target}>
          {entry.target}
        </span>
        {entry.key === null ? null : <Badge title="key">{entry.key}</Badge>}
        {entry.answer ? (
          <Badge tone={entry.state === "conflict" ? "warn" : "bad"}>{entry.answer.status}</Badge>
        ) : null}
        {entry.state === "in-flight" ? <Badge tone="info">in flight</Badge> : null}
        <span class="reason" title={entry.reason ?? entry.lastError ?? ""}>
          {entry.reason ?? entry.lastError ?? ""}
        </span>
        <div class="spacer" />
        <span class="muted small">
          {entry.attempts > 0 ? `${plural(entry.attempts, "failed attempt")} · ` : ""}
          {entry.heldAt === undefined
            ? `enqueued ${formatAgo(entry.enqueuedAt)}`
            : `held since ${formatAgo(entry.heldAt)}`}
        </span>
        {held && props.writable ? (
          <div class="entry-actions">
            {entry.state === "conflict" ? (
              <input
                class="mono etag"
                aria-label="If-Match for the retry"
                title="If-Match sent with the retry (the upstream's current ETag)"
                placeholder="If-Match"
                value={ifMatch}
                onInput={(e) => setIfMatch((e.target as HTMLInputElement).value)}
              />
            ) : null}
            <button
              type="button"
              class="button primary"
              disabled={busy}
              onClick={() => void act("retry")}
            >
              Retry
            </button>
            {confirmDiscard ? (
              <>
                <button
                  type="button"
                  class="button danger"
                  disabled={busy}
                  onClick={() => void act("discard")}
                >
                  Discard for good
                </button>
                <button type="button" class="button" onClick={() => setConfirmDiscard(false)}>
                  Keep
                </button>
              </>
            ) : (
              <button
                type="button"
                class="button"
                disabled={busy}
                onClick={() => setConfirmDiscard(true)}
              >
                Discard
              </button>
            )}
          </div>
        ) : null}
      </div>
      <ErrorBox error={error} what="this entry" />
      {open ? <EntryDetail entry={entry} body={body} /> : null}
    </div>
  );
}

function EntryDetail({
  entry,
  body,
}: {
  entry: OutboxEntryView;
  body: OutboxEntryDetail | undefined;
}) {
  const headerLines = (headers: Record<string, string>) =>
    Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}`)
      .join("\n") || "(none)";
  const precondition =
    entry.precondition === null
      ? "none"
      : "ifMatch" in entry.precondition
        ? `If-Match: ${entry.precondition.ifMatch}`
        : `If-Unmodified-Since: ${entry.precondition.ifUnmodifiedSince}`;
  return (
    <div class="entry-detail">
      <div class="kv-grid">
        <div class="kv">
          <span>Enqueued</span>
          <strong>{formatTime(entry.enqueuedAt)}</strong>
        </div>
        {entry.heldAt === undefined ? null : (
          <div class="kv">
            <span>Held since</span>
            <strong>{formatTime(entry.heldAt)}</strong>
          </div>
        )}
        <div class="kv">
          <span>Precondition</span>
          <strong class="mono">{precondition}</strong>
        </div>
        <div class="kv">
          <span>Body</span>
          <strong>{formatBytes(entry.bodyBytes)}</strong>
        </div>
      </div>
      <div class="grid two">
        <div>
          <h3>Request</h3>
          <pre class="code">{`${entry.method} ${entry.target}\n${headerLines(entry.headers)}`}</pre>
          <pre class="code body">
            {body === undefined ? "Loading body…" : bodyText(body.bodyBase64)}
          </pre>
        </div>
        <div>
          <h3>Upstream's answer</h3>
          {entry.answer === undefined || entry.answer === null ? (
            <p class="muted">{entry.lastError ?? "No answer kept."}</p>
          ) : (
            <>
              <pre class="code">{`${entry.answer.status}\n${headerLines(entry.answer.headers)}`}</pre>
              <pre class="code body">{prettyText(entry.answer.body) || "(empty body)"}</pre>
            </>
          )}
        </div>
      </div>
    </div>
  );
}

/** A body as text when it is UTF-8 (pretty when JSON), else a hex dump. */
function bodyText(base64: string): string {
  const bytes = fromBase64(base64);
  if (bytes.length === 0) return "(empty body)";
  try {
    return prettyText(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return hexDump(bytes);
  }
}

function plural(count: number, noun: string): string {
  return `${formatCount(count)} ${noun}${count === 1 ? "" : "s"}`;
}

function prettyText(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function MirrorsCard({ mirrors }: { mirrors: MirrorStatusView[] }) {
  return (
    <Card title="Mirrors">
      <table class="table compact">
        <thead>
          <tr>
            <th>Source</th>
            <th>Target</th>
            <th class="num">Position</th>
            <th class="num">Behind</th>
            <th class="num">Delivered</th>
            <th>State</th>
          </tr>
        </thead>
        <tbody>
          {mirrors.map((m) => (
            <tr key={`${m.source}→${m.target}`}>
              <td>
                <a href={href.stream(m.source)}>{m.source}</a>
              </td>
              <td class="mono small">{m.target}</td>
              <td class="num">{formatCount(m.position)}</td>
              <td class="num">{formatCount(m.behind)}</td>
              <td class="num">{formatCount(m.delivered)}</td>
              <td>
                {m.halted !== null ? (
                  <Badge tone="bad" title={m.halted}>
                    halted: {m.halted}
                  </Badge>
                ) : m.lastError !== null ? (
                  <Badge tone="warn" title={m.lastError.message}>
                    retrying
                  </Badge>
                ) : (
                  <Badge tone="ok">copying</Badge>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}
