/**
 * The message browser of one stream: a page of messages from the start, from a seq, an offset
 * or a time, or the newest; older and newer pages; find within what is loaded; and a live tail
 * (SSE) that adds new messages as they are committed. JSON is pretty-printed, text shown as
 * text, bytes as a hex dump.
 */
import type { JSX } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type {
  MessagePage,
  MessageView,
  StreamDetail,
} from "../../../src/server/admin/wire-types.js";
import { ApiError, api } from "../api.js";
import { Badge, Card, Empty, ErrorBox } from "../components/ui.js";
import { formatBytes, formatCount, formatTimeMs } from "../format.js";
import { liveTail } from "../live-tail.js";
import { type Rendered, renderPayload, type Token } from "../payload.js";

type From = "start" | "seq" | "offset" | "time" | "newest";
const PAGE_LIMIT = 50;
/** Messages kept on the page while tailing (the oldest go first). */
const LIVE_KEEP_MAX = 1000;
const NEWEST = String(Number.MAX_SAFE_INTEGER);

export function Messages({ stream }: { stream: StreamDetail }) {
  const name = stream.name;
  const [from, setFrom] = useState<From>("start");
  const [input, setInput] = useState("");
  const [page, setPage] = useState<MessagePage | undefined>(undefined);
  const [messages, setMessages] = useState<MessageView[]>([]);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [find, setFind] = useState("");
  const [onlyMatches, setOnlyMatches] = useState(false);
  const [live, setLive] = useState(false);
  const [pretty, setPretty] = useState(false);
  const [liveState, setLiveState] = useState<string>("");
  const list = useRef<HTMLDivElement>(null);
  const lastSeq = useRef(0);

  async function load(params: Record<string, string>) {
    setLoading(true);
    try {
      const next = await api.messages(name, { limit: String(PAGE_LIMIT), ...params });
      setPage(next);
      setMessages(next.messages);
      lastSeq.current = next.messages.at(-1)?.seq ?? next.lastSeq;
      setError(undefined);
      return next;
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, "INTERNAL", String(err)));
      return undefined;
    } finally {
      setLoading(false);
    }
  }

  function go(kind: From = from, value: string = input) {
    setLive(false);
    const text = value.trim();
    switch (kind) {
      case "start":
        return load({});
      case "newest":
        return load({ before: NEWEST });
      case "seq":
        return load({ after: String(Math.max(0, Number(text) - 1)) });
      case "offset":
        return load({ offset: text });
      case "time": {
        const ms = Date.parse(text);
        if (Number.isNaN(ms)) {
          setError(new ApiError(400, "INVALID_TIME", "pick a date and time"));
          return;
        }
        return load({ fromTime: String(ms) });
      }
    }
  }

  // A new stream: start from its beginning.
  useEffect(() => {
    setLive(false);
    setFrom("start");
    setInput("");
    void load({});
  }, [name]);

  // Live tail: the newest page, then every message committed after it.
  useEffect(() => {
    if (!live) {
      setLiveState("");
      return;
    }
    let stopped = false;
    let stop: () => void = () => undefined;
    let fetching = false;
    let again = false;
    const fetchNew = async () => {
      if (fetching) {
        again = true;
        return;
      }
      fetching = true;
      try {
        do {
          again = false;
          const next = await api.messages(name, { after: String(lastSeq.current), limit: "500" });
          if (stopped || next.messages.length === 0) continue;
          lastSeq.current = next.messages.at(-1)!.seq;
          setPage(next);
          setMessages((old) => [...old, ...next.messages].slice(-LIVE_KEEP_MAX));
          if (next.next !== null) again = true;
        } while (again && !stopped);
      } catch (err) {
        if (!stopped)
          setError(err instanceof ApiError ? err : new ApiError(0, "INTERNAL", String(err)));
      } finally {
        fetching = false;
      }
    };
    void load({ before: NEWEST }).then((first) => {
      if (stopped || first === undefined) return;
      const offset = first.messages.at(-1)?.offset ?? stream.tailOffset;
      stop = liveTail(name, offset, {
        onAdvance: () => void fetchNew(),
        onState: (state, detail) =>
          setLiveState(detail === undefined ? state : `${state}: ${detail}`),
      });
    });
    return () => {
      stopped = true;
      stop();
    };
  }, [live, name]);

  // While tailing, keep the newest message in view.
  useEffect(() => {
    const element = list.current;
    if (live && element !== null) element.scrollTop = element.scrollHeight;
  }, [messages, live]);

  const rendered = useMemo(
    () => messages.map((m) => ({ message: m, view: renderPayload(m) })),
    [messages],
  );
  const needle = find.trim().toLowerCase();
  const matches =
    needle === ""
      ? rendered.length
      : rendered.filter((r) => r.view.text.toLowerCase().includes(needle)).length;
  const shown =
    needle !== "" && onlyMatches
      ? rendered.filter((r) => r.view.text.toLowerCase().includes(needle))
      : rendered;

  return (
    <Card
      title="Messages"
      class="messages-card"
      actions={
        <label
          class={`switch ${live ? "on" : ""}`}
          title="Show new messages as they are committed (SSE)"
        >
          <input
            type="checkbox"
            role="switch"
            aria-checked={live}
            aria-label="Live tail"
            checked={live}
            onChange={(e) => setLive((e.target as HTMLInputElement).checked)}
          />
          <span class="switch-track">
            <span class="switch-thumb" />
          </span>
          Live tail
          {live ? (
            <Badge
              tone={liveState.startsWith("live") ? "ok" : liveState === "closed" ? "" : "warn"}
            >
              <span data-live-state={liveState.split(":")[0]}>
                {liveState.startsWith("live") ? "● live" : liveState || "starting"}
              </span>
            </Badge>
          ) : null}
        </label>
      }
    >
      <div class="toolbar wrap">
        <fieldset class="segmented" aria-label="Read from">
          {(["start", "seq", "offset", "time", "newest"] as From[]).map((kind) => (
            <button
              key={kind}
              type="button"
              class={from === kind ? "active" : ""}
              onClick={() => {
                setFrom(kind);
                if (kind === "start" || kind === "newest") void go(kind);
              }}
            >
              {kind === "start" ? "From start" : kind === "newest" ? "Newest" : `From ${kind}`}
            </button>
          ))}
        </fieldset>
        {from === "seq" || from === "offset" || from === "time" ? (
          <form
            class="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              void go();
            }}
          >
            {from === "time" ? (
              <input
                type="datetime-local"
                step="1"
                class="mono"
                aria-label="From time"
                value={input}
                onInput={(e) => setInput((e.target as HTMLInputElement).value)}
              />
            ) : (
              <input
                type="text"
                class={from === "offset" ? "mono wide" : "mono"}
                placeholder={from === "seq" ? "seq, e.g. 1200" : stream.tailOffset}
                aria-label={`From ${from}`}
                value={input}
                onInput={(e) => setInput((e.target as HTMLInputElement).value)}
              />
            )}
            <button type="submit" class="button primary">
              Go
            </button>
          </form>
        ) : null}
        <div class="spacer" />
        <fieldset class="segmented" aria-label="Layout">
          <button type="button" class={pretty ? "" : "active"} onClick={() => setPretty(false)}>
            Compact
          </button>
          <button type="button" class={pretty ? "active" : ""} onClick={() => setPretty(true)}>
            Expanded
          </button>
        </fieldset>
        <label class="search small-search">
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
            placeholder="Find in loaded messages"
            aria-label="Find in loaded messages"
            value={find}
            onInput={(e) => setFind((e.target as HTMLInputElement).value)}
          />
        </label>
        {needle === "" ? null : (
          <>
            <span class="muted small" data-find-count={matches}>
              {matches} of {rendered.length} match
            </span>
            <label class="inline small">
              <input
                type="checkbox"
                checked={onlyMatches}
                onChange={(e) => setOnlyMatches((e.target as HTMLInputElement).checked)}
              />
              only matches
            </label>
          </>
        )}
      </div>
      <ErrorBox error={error} what="these messages" />
      <div class={`message-list ${live ? "tailing" : ""}`} ref={list} aria-busy={loading}>
        {messages.length === 0 ? (
          <Empty>
            {page === undefined
              ? "Loading…"
              : stream.records === 0
                ? "This stream holds no messages yet."
                : "No messages here: nothing at or after that point."}
          </Empty>
        ) : (
          shown.map(({ message, view }) => (
            <MessageLine
              key={message.seq}
              message={message}
              view={view}
              needle={needle}
              expanded={pretty}
            />
          ))
        )}
      </div>
      <div class="pager">
        <span class="muted small">
          {messages.length === 0 || page === undefined
            ? ""
            : `seqs ${formatCount(messages[0]!.seq)}–${formatCount(messages.at(-1)!.seq)} of ${formatCount(page.firstSeq)}–${formatCount(page.lastSeq)}`}
        </span>
        <div class="spacer" />
        <button
          type="button"
          class="button"
          disabled={live || page?.previous === null || page === undefined || loading}
          onClick={() => page?.previous != null && void load({ before: String(page.previous) })}
        >
          ← Older
        </button>
        <button
          type="button"
          class="button"
          disabled={live || page?.next === null || page === undefined || loading}
          onClick={() => page?.next != null && void load({ after: String(page.next) })}
        >
          Newer →
        </button>
      </div>
    </Card>
  );
}

function MessageLine(props: {
  message: MessageView;
  view: Rendered;
  needle: string;
  expanded: boolean;
}) {
  const { message, view, needle } = props;
  const [open, setOpen] = useState<boolean | undefined>(undefined);
  const expanded = open ?? props.expanded;
  const hit = needle !== "" && view.text.toLowerCase().includes(needle);
  const tokens = expanded ? view.tokens : view.line;
  return (
    <article
      class={`message ${hit ? "hit" : ""} ${expanded ? "expanded" : "collapsed"}`}
      data-seq={message.seq}
      onClick={() => {
        // A click opens or closes one message, unless it ends a text selection.
        if (getSelection()?.isCollapsed !== false) setOpen(!expanded);
      }}
      onKeyDown={(e) => {
        if (e.key === "Enter") setOpen(!expanded);
      }}
    >
      <div class="message-meta">
        <span class="seq">#{formatCount(message.seq)}</span>
        <span class="time">{formatTimeMs(message.timestamp)}</span>
        <span class="muted">{formatBytes(message.bytes)}</span>
        <span class="kind">{view.kind}</span>
        {message.truncated ? (
          <Badge tone="warn" title="Only the first 64 KiB are shown">
            first {formatBytes(message.data.length)}
          </Badge>
        ) : null}
      </div>
      <pre class={`payload ${view.kind}`}>
        {tokens.map((token, i) => (
          <TokenText key={i} token={token} needle={needle} />
        ))}
      </pre>
    </article>
  );
}

function TokenText({ token, needle }: { token: Token; needle: string }) {
  const cls = token.kind === "plain" ? undefined : `t-${token.kind}`;
  if (needle === "") return <span class={cls}>{token.text}</span>;
  const lower = token.text.toLowerCase();
  const parts: Array<string | JSX.Element> = [];
  let at = 0;
  for (let found = lower.indexOf(needle); found >= 0; found = lower.indexOf(needle, at)) {
    if (found > at) parts.push(token.text.slice(at, found));
    parts.push(<mark key={found}>{token.text.slice(found, found + needle.length)}</mark>);
    at = found + needle.length;
  }
  if (at < token.text.length) parts.push(token.text.slice(at));
  return <span class={cls}>{parts}</span>;
}
