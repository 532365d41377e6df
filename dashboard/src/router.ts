/**
 * Pages by URL hash (`#/streams?prefix=agents/`, `#/stream/<name>`, `#/outboxes/<name>`): the
 * server serves one page at /ui/, and a reload or a shared link lands on the same view.
 */
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { page: "overview" }
  | { page: "streams"; params: URLSearchParams }
  | { page: "stream"; name: string }
  | { page: "outboxes"; name: string | null };

export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#\/?/, "");
  const [path = "", search = ""] = text.split("?", 2);
  const params = new URLSearchParams(search);
  const [head = "", ...rest] = path.split("/");
  const tail = rest.join("/");
  switch (head) {
    case "streams":
      return { page: "streams", params };
    case "stream":
      return tail === "" ? { page: "streams", params } : { page: "stream", name: decode(tail) };
    case "outboxes":
      return { page: "outboxes", name: tail === "" ? null : decode(tail) };
    default:
      return { page: "overview" };
  }
}

export const href = {
  overview: () => "#/",
  streams: (params?: Record<string, string>) => {
    const search = params === undefined ? "" : new URLSearchParams(params).toString();
    return `#/streams${search === "" ? "" : `?${search}`}`;
  },
  stream: (name: string) => `#/stream/${encodeURIComponent(name)}`,
  outboxes: (name?: string) =>
    `#/outboxes${name === undefined ? "" : `/${encodeURIComponent(name)}`}`,
};

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", update);
    return () => removeEventListener("hashchange", update);
  }, []);
  return route;
}

/** Replaces the hash without a new history entry (filters typed into a box). */
export function replaceHash(hash: string): void {
  history.replaceState(null, "", hash);
  dispatchEvent(new HashChangeEvent("hashchange"));
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
