/**
 * Operator commands that read a journal without taking its writer lock, so they work while the
 * server (or any writer) runs: `ls`, `info`, `read`, `tail`, `verify`. Each prints text for
 * people, or with `--json` the shapes documented in the README ("JSON output"), which stay
 * stable: fields are added, never renamed or removed.
 */
import { resolve } from "node:path";
import { CorruptError, InvalidArgumentError } from "../errors.js";
import type { Journal, JournalRecord, Stream } from "../index.js";
import { payloadField } from "./export.js";
import { isInternal, openReadOnly } from "./journal-access.js";
import { Progress } from "./progress.js";
import { table } from "./table.js";

type Print = (line: string) => void;

export interface StreamRow {
  name: string;
  records: number;
  firstSeq: number;
  lastSeq: number;
  bytes: number;
  createdAt: number;
  lastAppendAt: number | null;
}

export async function ls(
  dir: string,
  options: { all: boolean; json: boolean },
  print: Print,
): Promise<void> {
  const journal = await openReadOnly(dir);
  try {
    const names = journal.list();
    const shown = options.all ? names : names.filter((name) => !isInternal(name));
    const rows: StreamRow[] = [];
    for (const name of shown) rows.push(streamRow(await journal.stream(name)));
    if (options.json) {
      print(JSON.stringify(rows));
      return;
    }
    table(
      [
        ["stream", "records", "seqs", "bytes", "last append"],
        ...rows.map((row) => [
          row.name,
          String(row.records),
          row.records === 0 ? "-" : `${row.firstSeq}..${row.lastSeq}`,
          String(row.bytes),
          row.lastAppendAt === null ? "-" : new Date(row.lastAppendAt).toISOString(),
        ]),
      ],
      print,
    );
    const hidden = names.length - shown.length;
    print(
      `${shown.length} stream(s) in ${resolve(dir)}` +
        (hidden > 0
          ? ` (${hidden} internal stream(s) of the server and outboxes not shown: --all)`
          : ""),
    );
  } finally {
    await journal.close();
  }
}

export function streamRow(stream: Stream): StreamRow {
  const info = stream.info();
  return {
    name: info.name,
    records: info.records,
    firstSeq: info.firstSeq,
    lastSeq: info.lastSeq,
    bytes: info.bytes,
    createdAt: info.createdAt,
    lastAppendAt: info.lastAppendAt,
  };
}

export async function info(dir: string, name: string, json: boolean, print: Print): Promise<void> {
  const journal = await openReadOnly(dir);
  try {
    const stream = await journal.stream(name);
    const lastSeq = stream.info().lastSeq;
    const shown = {
      ...streamRow(stream),
      limits: stream.limits,
      retention: stream.retention,
      lost: stream.lost,
      consumers: stream.consumers().map((c) => ({
        name: c.name,
        position: c.position,
        behind: Math.max(0, lastSeq - c.position),
        ackedAt: c.ackedAt,
      })),
      meta: stream.meta,
    };
    if (json) {
      print(JSON.stringify(shown));
      return;
    }
    const iso = (ms: number | null) => (ms === null ? "-" : new Date(ms).toISOString());
    print(`stream      ${shown.name}`);
    print(`records     ${shown.records} (seqs ${shown.firstSeq}..${shown.lastSeq})`);
    print(`bytes       ${shown.bytes}`);
    print(`created     ${iso(shown.createdAt)}`);
    print(`last append ${iso(shown.lastAppendAt)}`);
    const { discard, ...bounds } = shown.limits;
    print(
      `limits      ${Object.keys(bounds).length === 0 ? "none" : `${JSON.stringify(bounds)}, discard ${discard ?? "old"}`}`,
    );
    print(`retention   ${shown.retention}`);
    if (shown.lost.length > 0) {
      print(
        `lost seqs   ${shown.lost.map(([a, b]) => (a === b ? `${a}` : `${a}..${b}`)).join(", ")}`,
      );
    }
    for (const c of shown.consumers) {
      print(
        `consumer    ${c.name}: at seq ${c.position}, ${c.behind} behind, acked ${iso(c.ackedAt)}`,
      );
    }
    print(`meta        ${JSON.stringify(shown.meta)}`);
  } finally {
    await journal.close();
  }
}

export type RecordFormat = "text" | "json" | "hex";

/** One record as a line: text and hex for people, json as `{"seq","timestamp",payload}`. */
export function formatRecord(record: JournalRecord, format: RecordFormat): string {
  const payload = Buffer.from(
    record.payload.buffer,
    record.payload.byteOffset,
    record.payload.byteLength,
  );
  if (format === "json") {
    return `{"seq":${record.seq},"timestamp":${record.timestamp},${payloadField(payload)}}`;
  }
  const body = format === "hex" ? payload.toString("hex") : payload.toString("utf8");
  return `${record.seq}\t${new Date(record.timestamp).toISOString()}\t${body}`;
}

export async function read(
  dir: string,
  name: string,
  options: {
    after?: number;
    limit?: number;
    format: RecordFormat;
    follow: boolean;
    signal?: AbortSignal;
    /** Read a server's internal stream (`__ds/…`, `__outbox/…`) too. */
    internal?: boolean;
  },
  print: Print,
): Promise<void> {
  if (isInternal(name) && options.internal !== true) {
    throw new InvalidArgumentError(
      `${name} is a stream the server keeps for itself (it may hold secrets, such as the ` +
        "webhook signing key); pass --internal to read it anyway",
      { stream: name },
    );
  }
  const journal = await openReadOnly(dir);
  try {
    const stream = await journal.stream(name);
    const controller = new AbortController();
    options.signal?.addEventListener("abort", () => controller.abort(), { once: true });
    const after = options.after === undefined ? {} : { after: options.after };
    const records = options.follow
      ? stream.follow({ ...after, signal: controller.signal })
      : stream.read({ ...after, ...(options.limit === undefined ? {} : { limit: options.limit }) });
    let printed = 0;
    for await (const record of records) {
      print(formatRecord(record, options.format));
      // tail --limit: stop following once that many were printed.
      if (++printed === options.limit) break;
    }
  } finally {
    await journal.close();
  }
}

export interface VerifyResult {
  dir: string;
  streams: number;
  records: number;
  problems: Array<{
    kind: string;
    stream?: string;
    message: string;
    firstSeqLost?: number;
    lastSeqLost?: number;
    resumeAfter?: number;
  }>;
}

/**
 * Reads and checks every record of every stream (CRC, seq, order), reporting damage and
 * continuing after it. Resolves with what it found.
 */
export async function verify(
  dir: string,
  options: { quiet: boolean },
  onProblem: (problem: VerifyResult["problems"][number]) => void,
): Promise<VerifyResult> {
  const journal = await openReadOnly(dir);
  const result: VerifyResult = { dir: resolve(dir), streams: 0, records: 0, problems: [] };
  const problem = (p: VerifyResult["problems"][number]) => {
    result.problems.push(p);
    onProblem(p);
  };
  try {
    for (const event of journal.recovery) {
      if (event.kind === "corrupt")
        problem({
          kind: "recovery",
          ...(event.stream === undefined ? {} : { stream: event.stream }),
          message: event.message,
        });
    }
    const names = journal.list();
    result.streams = names.length;
    let total = 0;
    for (const name of names) total += (await journal.stream(name)).info().records;
    const progress = new Progress("verify", total, options.quiet);
    try {
      for (const name of names) await verifyStream(journal, name, result, problem, progress);
    } finally {
      progress.stop();
    }
    return result;
  } finally {
    await journal.close();
  }
}

async function verifyStream(
  journal: Journal,
  name: string,
  result: VerifyResult,
  problem: (p: VerifyResult["problems"][number]) => void,
  progress: Progress,
): Promise<void> {
  const stream = await journal.stream(name);
  let after = stream.info().firstSeq - 1;
  for (;;) {
    try {
      for await (const record of stream.read({ after })) {
        after = record.seq;
        if ((++result.records & 0xffff) === 0) progress.update(result.records, 0);
      }
      return;
    } catch (err) {
      if (!(err instanceof CorruptError)) throw err;
      const { firstSeqLost, lastSeqLost, resumeAfter } = err.context;
      problem({
        kind: "damage",
        stream: name,
        message: err.message,
        ...(firstSeqLost === undefined ? {} : { firstSeqLost }),
        ...(lastSeqLost === undefined ? {} : { lastSeqLost }),
        ...(resumeAfter === undefined ? {} : { resumeAfter }),
      });
      if (resumeAfter === undefined || resumeAfter <= after) return;
      after = resumeAfter;
    }
  }
}
