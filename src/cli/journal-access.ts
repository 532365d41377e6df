/**
 * How commands reach a journal: read-only (works beside a running writer), or with the writer
 * lock, which a running server may hold. A command that needs the lock and finds it held says
 * which process holds it and what to do instead, in command-line terms.
 */
import { resolve } from "node:path";
import { type ErrorCode, TidemarkError } from "../errors.js";
import { Journal, type JournalOptions } from "../index.js";

/** Streams of the server itself (`__ds/…`) and of outboxes (`__outbox/…`). */
export const INTERNAL_PREFIXES = ["__ds/", "__outbox/"];

export function isInternal(name: string): boolean {
  return INTERNAL_PREFIXES.some((prefix) => name.startsWith(prefix));
}

export function cliError(code: ErrorCode, message: string, context = {}): TidemarkError {
  return new TidemarkError(code, message, context);
}

export async function openReadOnly(dir: string): Promise<Journal> {
  try {
    return await Journal.open(resolve(dir), { readOnly: true });
  } catch (err) {
    // Most often the command ran in another directory than the journal's: say how to name it.
    if (
      err instanceof TidemarkError &&
      (err.code === "NOT_FOUND" || err.code === "NOT_A_JOURNAL")
    ) {
      throw new TidemarkError(
        err.code,
        `${err.message}; name the journal's directory with --dir <dir> or TIDEMARK_DIR ` +
          "(the default is ./tidemark-data)",
        err.context,
      );
    }
    throw err;
  }
}

/** Who holds the writer lock, from a JOURNAL_LOCKED error. */
export interface LockHolder {
  pid: number | undefined;
  host: string | undefined;
}

export function lockHolderOf(err: unknown): LockHolder | undefined {
  if (!(err instanceof TidemarkError) || err.code !== "JOURNAL_LOCKED") return undefined;
  const pid = err.context["holderPid"];
  const host = err.context["holderHost"];
  return {
    pid: typeof pid === "number" ? pid : undefined,
    host: typeof host === "string" ? host : undefined,
  };
}

export function describeHolder(holder: LockHolder): string {
  return holder.pid === undefined
    ? "another process"
    : `process ${holder.pid}${holder.host === undefined ? "" : ` on ${holder.host}`}`;
}

/**
 * Opens the journal with the writer lock. When another process holds it, fails with
 * JOURNAL_LOCKED and `advice` (what to do instead, for this command).
 */
export async function openWriter(
  dir: string,
  advice: string,
  options: JournalOptions = {},
): Promise<Journal> {
  try {
    return await Journal.open(resolve(dir), options);
  } catch (err) {
    const holder = lockHolderOf(err);
    if (holder === undefined) throw err;
    throw lockedError(dir, holder, advice);
  }
}

export function lockedError(dir: string, holder: LockHolder, advice: string): TidemarkError {
  return cliError(
    "JOURNAL_LOCKED",
    `the journal in ${resolve(dir)} is open for writing by ${describeHolder(holder)}; ${advice}`,
    { holderPid: holder.pid, holderHost: holder.host },
  );
}

/**
 * The streams a command acts on: the ones named (each must exist), or with `all` every stream
 * (internal ones included: an export or repair of a whole journal covers the server's and the
 * outboxes' state too).
 */
export function selectStreams(
  journal: Journal,
  names: string[],
  all: boolean,
  command: string,
): string[] {
  const existing = journal.list();
  if (all) {
    if (names.length > 0)
      throw cliError("INVALID_ARGUMENT", `${command}: give stream names or --all, not both`);
    return existing;
  }
  if (names.length === 0)
    throw cliError("INVALID_ARGUMENT", `${command}: name the streams, or pass --all`);
  const known = new Set(existing);
  for (const name of names) {
    if (!known.has(name)) {
      throw cliError("NOT_FOUND", `there is no stream ${JSON.stringify(name)} in ${journal.dir}`, {
        stream: name,
      });
    }
  }
  return [...new Set(names)];
}
