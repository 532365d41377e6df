/**
 * The rest of an operator's day: `rm`, `trim` and `stats`. `rm` and `trim` change the journal:
 * they open it with the writer lock, or, while a server holds it, ask that server (remote.ts):
 * `rm` is DELETE /v1/stream/<path>, `trim` is POST /v1/streams/<path>/trim. `stats` only reads.
 */
import { statfs } from "node:fs/promises";
import { resolve } from "node:path";
import { resolveServeConfig } from "./config.js";
import { cliError, isInternal, lockHolderOf, openReadOnly, openWriter } from "./journal-access.js";
import { explicitServer, pathOf, type RemoteOptions, request, serverHolding } from "./remote.js";
import { table } from "./table.js";

type Print = (line: string) => void;

/** Default `diskFreeBytesMin` of a journal (README "Limits and retention"). */
const DISK_FREE_BYTES_MIN_DEFAULT = 64 * 1024 * 1024;

export interface ChangeResult {
  /** "journal" when the journal was changed directly, else the server's URL. */
  via: string;
}

/**
 * Runs `direct` with the writer lock, or `remote` through the server holding it (or the one
 * named with --url).
 */
async function change(
  dir: string,
  options: RemoteOptions,
  what: string,
  direct: (journal: Awaited<ReturnType<typeof openWriter>>) => Promise<void>,
  remote: (server: { url: string; token: string | undefined }) => Promise<void>,
): Promise<ChangeResult> {
  const named = explicitServer(options);
  if (named !== undefined) {
    await remote(named);
    return { via: named.url };
  }
  let journal: Awaited<ReturnType<typeof openWriter>>;
  try {
    journal = await openWriter(dir, "");
  } catch (err) {
    const holder = lockHolderOf(err);
    if (holder === undefined) throw err;
    const server = await serverHolding(resolve(dir), holder, options, what);
    await remote(server);
    return { via: server.url };
  }
  try {
    await direct(journal);
  } finally {
    await journal.close();
  }
  return { via: "journal" };
}

export async function rm(
  dir: string,
  name: string,
  options: RemoteOptions,
  print: Print,
): Promise<ChangeResult> {
  if (isInternal(name)) {
    throw cliError(
      "INVALID_ARGUMENT",
      `${name} is an internal stream (of the server or an outbox) and is not removed on its own`,
    );
  }
  const result = await change(
    dir,
    options,
    "rm",
    async (journal) => {
      if (!(await journal.deleteStream(name))) {
        throw cliError(
          "NOT_FOUND",
          `there is no stream ${JSON.stringify(name)} in ${resolve(dir)}`,
        );
      }
    },
    async (server) => {
      await request(server, "DELETE", `/v1/stream/${pathOf(name)}`);
    },
  );
  print(`removed ${name}${result.via === "journal" ? "" : ` through ${result.via}`}`);
  return result;
}

/** `7d`, `12h`, `30m`, `90s`, `500ms` → milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(text.trim());
  if (match === null) {
    throw cliError(
      "INVALID_ARGUMENT",
      `--older-than takes a duration such as 90s, 30m, 12h or 7d; got ${JSON.stringify(text)}`,
    );
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[
    match[2] as "ms"
  ];
  return Math.round(Number(match[1]) * unit);
}

export interface TrimResult extends ChangeResult {
  stream: string;
  before: number;
}

export async function trim(
  dir: string,
  name: string,
  options: RemoteOptions & { before?: number; olderThanMs?: number },
  print: Print,
): Promise<TrimResult> {
  if ((options.before === undefined) === (options.olderThanMs === undefined)) {
    throw cliError(
      "INVALID_ARGUMENT",
      "trim takes one of --before <seq> or --older-than <duration>",
    );
  }
  const { firstSeq, since } = await firstSeqs(dir, name, options.olderThanMs);
  const seq = options.before ?? since;
  if (seq <= firstSeq) {
    print(`nothing to trim: ${name} starts at seq ${firstSeq}`);
    return { via: "journal", stream: name, before: seq };
  }
  const result = await change(
    dir,
    options,
    "trim",
    async (journal) => {
      if (!journal.list().includes(name)) {
        throw cliError(
          "NOT_FOUND",
          `there is no stream ${JSON.stringify(name)} in ${resolve(dir)}`,
        );
      }
      await (await journal.stream(name)).trim({ before: seq });
    },
    async (server) => {
      await request(server, "POST", `/v1/streams/${pathOf(name)}/trim`, { before: seq });
    },
  );
  print(
    `trimmed ${name}: seqs below ${seq} released${result.via === "journal" ? "" : ` (through ${result.via})`}`,
  );
  return { ...result, stream: name, before: seq };
}

/**
 * The stream's first seq, and (with `olderThanMs`) the seq of its first record no older than
 * that, or its next seq if every record is older. Read-only: works beside a server.
 */
async function firstSeqs(
  dir: string,
  name: string,
  olderThanMs: number | undefined,
): Promise<{ firstSeq: number; since: number }> {
  const journal = await openReadOnly(dir);
  try {
    const stream = await journal.stream(name);
    const { firstSeq, lastSeq } = stream.info();
    if (olderThanMs === undefined) return { firstSeq, since: firstSeq };
    for await (const record of stream.read({ fromTime: Date.now() - olderThanMs, limit: 1 })) {
      return { firstSeq, since: record.seq };
    }
    return { firstSeq, since: lastSeq + 1 };
  } finally {
    await journal.close();
  }
}

export interface StatsResult {
  journal: {
    dir: string;
    streams: number;
    records: number;
    bytes: number;
    bytesMax: number | null;
    diskFreeBytes: number | null;
    diskFreeBytesMin: number;
    oldestTimestamp: number | null;
    newestTimestamp: number | null;
  };
  streams: Array<{
    name: string;
    records: number;
    bytes: number;
    firstSeq: number;
    lastSeq: number;
    lastAppendAt: number | null;
    limits: Record<string, unknown>;
    retention: string;
    /** Fraction of bytesMax / recordsMax held, or null without that limit. */
    full: { bytes: number | null; records: number | null };
    consumers: Array<{ name: string; position: number; behind: number; ackedAt: number | null }>;
  }>;
}

/**
 * Journal bytes against `bytesMax`, disk free against `diskFreeBytesMin` (the journal's limits
 * are options of the process that writes it: taken from `--config`, the file `serve` reads),
 * per-stream bytes and records against their limits, consumers and how far behind they are.
 */
export async function stats(
  dir: string,
  options: { config?: string; all: boolean; json: boolean },
  print: Print,
): Promise<StatsResult> {
  const config =
    options.config === undefined
      ? undefined
      : await resolveServeConfig({ config: options.config }, {});
  const limits = (config?.journalLimits ?? {}) as { bytesMax?: number; diskFreeBytesMin?: number };
  const journal = await openReadOnly(dir);
  let result: StatsResult;
  try {
    const totals = await journal.stats();
    let diskFreeBytes: number | null = null;
    try {
      const fs = await statfs(resolve(dir));
      diskFreeBytes = fs.bavail * fs.bsize;
    } catch {
      diskFreeBytes = null;
    }
    result = {
      journal: {
        dir: resolve(dir),
        streams: totals.streams,
        records: totals.records,
        bytes: totals.bytes,
        bytesMax: limits.bytesMax ?? null,
        diskFreeBytes,
        diskFreeBytesMin: limits.diskFreeBytesMin ?? DISK_FREE_BYTES_MIN_DEFAULT,
        oldestTimestamp: totals.oldestTimestamp,
        newestTimestamp: totals.newestTimestamp,
      },
      streams: [],
    };
    for (const name of journal.list()) {
      const stream = await journal.stream(name);
      const info = stream.info();
      // The oldest record held: each stream's first (a read-only journal does not track it).
      for await (const first of stream.read({ limit: 1 })) {
        const oldest = result.journal.oldestTimestamp;
        result.journal.oldestTimestamp = Math.min(oldest ?? first.timestamp, first.timestamp);
      }
      if (!options.all && isInternal(name)) continue;
      const streamLimits = stream.limits as { bytesMax?: number; recordsMax?: number };
      result.streams.push({
        name,
        records: info.records,
        bytes: info.bytes,
        firstSeq: info.firstSeq,
        lastSeq: info.lastSeq,
        lastAppendAt: info.lastAppendAt,
        limits: { ...stream.limits },
        retention: stream.retention,
        full: {
          bytes: streamLimits.bytesMax === undefined ? null : info.bytes / streamLimits.bytesMax,
          records:
            streamLimits.recordsMax === undefined ? null : info.records / streamLimits.recordsMax,
        },
        consumers: stream.consumers().map((c) => ({
          name: c.name,
          position: c.position,
          behind: Math.max(0, info.lastSeq - c.position),
          ackedAt: c.ackedAt,
        })),
      });
    }
  } finally {
    await journal.close();
  }
  if (options.json) {
    print(JSON.stringify(result));
    return result;
  }
  const j = result.journal;
  const pct = (x: number | null) => (x === null ? "-" : `${(x * 100).toFixed(1)}%`);
  print(`journal    ${j.dir}: ${j.streams} stream(s), ${j.records} records`);
  print(
    `bytes      ${j.bytes}${j.bytesMax === null ? " (no bytesMax" + (options.config === undefined ? "; pass --config to compare" : "") + ")" : ` of bytesMax ${j.bytesMax} (${pct(j.bytes / j.bytesMax)})`}`,
  );
  print(
    `disk free  ${j.diskFreeBytes ?? "unknown"}, diskFreeBytesMin ${j.diskFreeBytesMin}${
      j.diskFreeBytes !== null && j.diskFreeBytes < j.diskFreeBytesMin
        ? " — BELOW: appends fail with DISK_FULL"
        : ""
    }`,
  );
  table(
    [
      ["stream", "records", "bytes", "of bytesMax", "of recordsMax", "consumers (behind)"],
      ...result.streams.map((s) => [
        s.name,
        String(s.records),
        String(s.bytes),
        pct(s.full.bytes),
        pct(s.full.records),
        s.consumers.map((c) => `${c.name} (${c.behind})`).join(", ") || "-",
      ]),
    ],
    print,
  );
  return result;
}
