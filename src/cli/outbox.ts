/**
 * `tidemark outbox ls | show | retry | discard`, on a journal directory. `ls` and `show` open
 * the journal read-only (they work while the process that delivers runs); `retry` and `discard`
 * change the outbox, so they need the journal's writer lock: while `tidemark serve` holds it they
 * go through its API (POST /v1/outbox/<name>/entries/<id>/retry | discard, remote.ts).
 */
import { resolve } from "node:path";
import { InvalidArgumentError, NotFoundError } from "../errors.js";
import { Journal } from "../index.js";
import {
  checkPrecondition,
  NO_UPSTREAM,
  Outbox,
  type OutboxEntryInfo,
  outboxNames,
  type Precondition,
} from "../outbox/index.js";
import { lockHolderOf } from "./journal-access.js";
import {
  explicitServer,
  type RemoteOptions,
  request,
  type Server,
  serverHolding,
} from "./remote.js";

type Print = (line: string) => void;

async function withOutbox<T>(
  dir: string,
  name: string,
  readOnly: boolean,
  run: (outbox: Outbox) => Promise<T>,
): Promise<T> {
  const journal = await Journal.open(resolve(dir), { readOnly });
  try {
    if (!outboxNames(journal).includes(name)) {
      throw new NotFoundError(`no outbox named ${JSON.stringify(name)} in ${resolve(dir)}`);
    }
    const outbox = await Outbox.open(journal, name, { upstream: NO_UPSTREAM });
    try {
      return await run(outbox);
    } finally {
      await outbox.close();
    }
  } finally {
    await journal.close();
  }
}

export async function outboxLs(dir: string, json: boolean, print: Print): Promise<void> {
  const journal = await Journal.open(resolve(dir), { readOnly: true });
  try {
    const rows: string[][] = [["outbox", "pending", "oldest pending", "conflicts", "dead letters"]];
    const all = [];
    for (const name of outboxNames(journal)) {
      const outbox = await Outbox.open(journal, name, { upstream: NO_UPSTREAM });
      const stats = outbox.stats();
      const lastError = outbox
        .pending(Number.POSITIVE_INFINITY)
        .filter((p) => p.lastError !== null)
        .at(-1)?.lastError;
      all.push({ ...stats, running: undefined, upstream: undefined, lastError: lastError ?? null });
      rows.push([
        name,
        String(stats.pending),
        stats.oldestPendingAgeMs === null ? "-" : age(stats.oldestPendingAgeMs),
        String(stats.conflicts),
        String(stats.deadLetters),
      ]);
    }
    if (json) print(JSON.stringify(all, null, 2));
    else {
      table(rows, print);
      print(`${rows.length - 1} outbox(es) in ${resolve(dir)}`);
    }
  } finally {
    await journal.close();
  }
}

export async function outboxShow(
  dir: string,
  name: string,
  id: string | undefined,
  json: boolean,
  print: Print,
): Promise<void> {
  await withOutbox(dir, name, true, async (outbox) => {
    if (id !== undefined) {
      const entry = outbox.get(id);
      if (entry === undefined) {
        throw new NotFoundError(`outbox ${name} holds no entry ${id} (delivered, or discarded)`);
      }
      const body = Buffer.from(await outbox.body(id));
      const text = body.toString("utf8");
      const printable = Buffer.from(text, "utf8").equals(body) && !/[\0-\x08\x0e-\x1f]/.test(text);
      const shown = {
        ...entry,
        enqueuedAt: new Date(entry.enqueuedAt).toISOString(),
        ...(entry.heldAt === undefined ? {} : { heldAt: new Date(entry.heldAt).toISOString() }),
        body: printable ? text : undefined,
        bodyBase64: printable ? undefined : body.toString("base64"),
      };
      print(JSON.stringify(shown, null, 2));
      return;
    }
    const entries = [...outbox.conflicts(), ...outbox.deadLetters(), ...outbox.pending(50)];
    if (json) {
      print(JSON.stringify(entries, null, 2));
      return;
    }
    const rows = [["id", "state", "key", "request", "attempts", "why"]];
    for (const entry of entries) rows.push(row(entry));
    table(rows, print);
    const stats = outbox.stats();
    print(
      `${stats.pending} pending (first 50 shown), ${stats.conflicts} conflict(s), ${stats.deadLetters} dead letter(s)`,
    );
  });
}

export async function outboxRetry(
  dir: string,
  name: string,
  id: string,
  options: RemoteOptions & { ifMatch?: string; ifUnmodifiedSince?: string; header?: string[] },
  print: Print,
): Promise<void> {
  let precondition: Precondition | undefined;
  if (options.ifMatch !== undefined) precondition = { ifMatch: options.ifMatch };
  else if (options.ifUnmodifiedSince !== undefined) {
    precondition = { ifUnmodifiedSince: options.ifUnmodifiedSince };
  }
  if (precondition !== undefined) checkPrecondition(precondition);
  const headers: Record<string, string> = {};
  for (const header of options.header ?? []) {
    const colon = header.indexOf(":");
    if (colon <= 0) throw new InvalidArgumentError(`--header takes name:value, got ${header}`);
    headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
  }
  const via = await changeOutbox(
    dir,
    name,
    options,
    "outbox retry",
    (outbox) =>
      outbox
        .retry(id, { ...(precondition === undefined ? {} : { precondition }), headers })
        .then(() => undefined),
    (server) =>
      request(
        server,
        "POST",
        `/v1/outbox/${encodeURIComponent(name)}/entries/${encodeURIComponent(id)}/retry`,
        {
          ...(precondition === undefined ? {} : { precondition }),
          headers,
        },
      ).then(() => undefined),
  );
  print(
    via === undefined
      ? `${id} is pending again in outbox ${name}; it is delivered when the outbox next runs`
      : `${id} is pending again in outbox ${name} (through ${via})`,
  );
}

export async function outboxDiscard(
  dir: string,
  name: string,
  id: string,
  options: RemoteOptions,
  print: Print,
): Promise<void> {
  const via = await changeOutbox(
    dir,
    name,
    options,
    "outbox discard",
    (outbox) => outbox.discard(id),
    (server) =>
      request(
        server,
        "POST",
        `/v1/outbox/${encodeURIComponent(name)}/entries/${encodeURIComponent(id)}/discard`,
      ).then(() => undefined),
  );
  print(`${id} discarded from outbox ${name}${via === undefined ? "" : ` (through ${via})`}`);
}

/** Changes the outbox directly, or through the server that holds the journal; returns its URL. */
async function changeOutbox(
  dir: string,
  name: string,
  options: RemoteOptions,
  what: string,
  direct: (outbox: Outbox) => Promise<void>,
  remote: (server: Server) => Promise<void>,
): Promise<string | undefined> {
  const named = explicitServer(options);
  if (named !== undefined) {
    await remote(named);
    return named.url;
  }
  try {
    await withOutbox(dir, name, false, direct);
    return undefined;
  } catch (err) {
    const holder = lockHolderOf(err);
    if (holder === undefined) throw err;
    const server = await serverHolding(resolve(dir), holder, options, what);
    await remote(server);
    return server.url;
  }
}

function row(entry: OutboxEntryInfo): string[] {
  const why =
    entry.reason !== undefined
      ? `${entry.reason}${entry.answer ? ` [${entry.answer.status}]` : ""}`
      : (entry.lastError ?? "");
  return [
    entry.id,
    entry.state,
    entry.key ?? "-",
    `${entry.method} ${entry.target}`,
    String(entry.attempts),
    why.length > 80 ? `${why.slice(0, 77)}...` : why,
  ];
}

function table(rows: string[][], print: Print): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  for (const r of rows) {
    print(
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    );
  }
}

function age(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}
