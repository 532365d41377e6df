/**
 * The admin API as the page calls it: same origin, the tab's token (sessionStorage: it lasts
 * as long as the tab and is never written to disk), errors as ApiError with the server's code
 * and message. A 401 asks for a token (the app shows the sign-in form).
 */
import type {
  AuthView,
  MessagePage,
  OutboxDetail,
  OutboxEntryDetail,
  OutboxList,
  StatsView,
  StreamDetail,
  StreamPage,
} from "../../src/server/admin/wire-types.js";

const TOKEN_KEY = "tidemark.token";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();

export const token = {
  get(): string | null {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch {
      return null;
    }
  },
  set(value: string | null): void {
    try {
      if (value === null) sessionStorage.removeItem(TOKEN_KEY);
      else sessionStorage.setItem(TOKEN_KEY, value);
    } catch {
      // Storage refused (a private window's quota): the token lasts for this page only.
    }
  },
  /** Calls `listener` whenever a request is answered 401. */
  onUnauthorized(listener: Listener): () => void {
    unauthorizedListeners.add(listener);
    return () => unauthorizedListeners.delete(listener);
  },
};

export function authHeaders(): Record<string, string> {
  const value = token.get();
  return value === null ? {} : { authorization: `Bearer ${value}` };
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { ...authHeaders() };
  if (body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      cache: "no-store",
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new ApiError(0, "NETWORK", `the server did not answer (${String(err)})`);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text.length === 0 ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    if (res.status === 401) for (const listener of unauthorizedListeners) listener();
    throw new ApiError(res.status, error?.code ?? "HTTP_" + res.status, error?.message ?? text);
  }
  return parsed as T;
}

const enc = encodeURIComponent;
/** A stream path in a URL: each segment encoded, the slashes kept. */
export const pathUrl = (path: string) => path.split("/").map(enc).join("/");

export const api = {
  auth: () => request<AuthView>("GET", "/v1/auth"),
  stats: () => request<StatsView>("GET", "/v1/stats"),
  streams: (params: Record<string, string>) =>
    request<StreamPage>("GET", `/v1/streams?${new URLSearchParams(params)}`),
  stream: (name: string) => request<StreamDetail>("GET", `/v1/streams/${pathUrl(name)}`),
  messages: (name: string, params: Record<string, string>) =>
    request<MessagePage>("GET", `/v1/messages/${pathUrl(name)}?${new URLSearchParams(params)}`),
  outboxes: () => request<OutboxList>("GET", "/v1/outbox"),
  outbox: (name: string) => request<OutboxDetail>("GET", `/v1/outbox/${enc(name)}`),
  entry: (name: string, id: string) =>
    request<OutboxEntryDetail>("GET", `/v1/outbox/${enc(name)}/entries/${enc(id)}`),
  retry: (name: string, id: string, body: { precondition?: { ifMatch: string } }) =>
    request<{ id: string }>("POST", `/v1/outbox/${enc(name)}/entries/${enc(id)}/retry`, body),
  discard: (name: string, id: string) =>
    request<void>("POST", `/v1/outbox/${enc(name)}/entries/${enc(id)}/discard`),
};
