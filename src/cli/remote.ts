/**
 * Going through a running server. Commands that change a journal need its writer lock; while
 * `tidemark serve` holds it they make the change through the server's HTTP API instead, with a
 * bearer token when auth is on (`--token`, or TIDEMARK_TOKEN). The server is `--url` (or
 * TIDEMARK_URL), default http://127.0.0.1:4437. Without an explicit URL the default is used
 * only if that server is the process holding the lock (its /healthz says its pid), so a change
 * meant for one journal never lands in another served on the default port.
 */
import { TidemarkError } from "../errors.js";
import { cliError, describeHolder, type LockHolder } from "./journal-access.js";

export const DEFAULT_URL = "http://127.0.0.1:4437";
const REQUEST_TIMEOUT_MS = 30_000;

export interface RemoteOptions {
  url?: string;
  token?: string;
}

export interface Server {
  url: string;
  token: string | undefined;
}

/** The server the user named (--url or TIDEMARK_URL), if any. */
export function explicitServer(options: RemoteOptions): Server | undefined {
  const url = options.url ?? process.env["TIDEMARK_URL"];
  if (url === undefined || url === "") return undefined;
  return { url: url.replace(/\/+$/, ""), token: options.token ?? process.env["TIDEMARK_TOKEN"] };
}

/**
 * The server to use for a journal whose lock `holder` has: the one named, or the default URL
 * when the server there is the holder. Otherwise says exactly what to do.
 */
export async function serverHolding(
  dir: string,
  holder: LockHolder,
  options: RemoteOptions,
  what: string,
): Promise<Server> {
  const named = explicitServer(options);
  if (named !== undefined) return named;
  const server: Server = {
    url: DEFAULT_URL,
    token: options.token ?? process.env["TIDEMARK_TOKEN"],
  };
  const who = describeHolder(holder);
  let pid: unknown;
  try {
    const answer = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(5000) });
    pid = ((await answer.json()) as { pid?: unknown }).pid;
  } catch {
    throw cliError(
      "JOURNAL_LOCKED",
      `the journal in ${dir} is open for writing by ${who}, and no tidemark server answers at ` +
        `${server.url}; ${what} needs the writer lock: stop that process, or pass --url (or ` +
        "TIDEMARK_URL) of the server that serves this journal",
      { holderPid: holder.pid },
    );
  }
  if (holder.pid !== undefined && pid !== holder.pid) {
    throw cliError(
      "JOURNAL_LOCKED",
      `the journal in ${dir} is open for writing by ${who}, but the server at ${server.url} is ` +
        `${typeof pid === "number" ? `process ${pid}` : "another process"}; pass --url (or ` +
        "TIDEMARK_URL) of the server that serves this journal, or stop the process that holds it",
      { holderPid: holder.pid },
    );
  }
  return server;
}

/** One request; a non-2xx answer becomes an error with the server's code and message. */
export async function request(
  server: Server,
  method: string,
  path: string,
  body?: unknown,
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (server.token !== undefined && server.token !== "")
    headers["authorization"] = `Bearer ${server.token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let answer: Response;
  try {
    answer = await fetch(`${server.url}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    throw cliError(
      "IO_ERROR",
      `cannot reach the server at ${server.url}: ${(err as Error).message}`,
    );
  }
  if (answer.ok) return answer;
  let code = "INTERNAL";
  let message = `HTTP ${answer.status}`;
  try {
    const parsed = (await answer.json()) as { error?: { code?: string; message?: string } };
    code = parsed.error?.code ?? code;
    message = parsed.error?.message ?? message;
  } catch {
    // not a tidemark error body
  }
  const hint =
    answer.status === 401
      ? " (give a token with --token or TIDEMARK_TOKEN)"
      : answer.status === 403
        ? " (the token's scopes do not allow it)"
        : "";
  throw new TidemarkError(
    code as TidemarkError["code"],
    `the server at ${server.url} refused: ${message}${hint}`,
    { status: answer.status },
  );
}

/** A stream path as it goes in a URL: each segment percent-encoded. */
export function pathOf(name: string): string {
  return name.split("/").map(encodeURIComponent).join("/");
}
