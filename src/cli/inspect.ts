/**
 * Operator commands that read a journal without taking its writer lock, so they work while the
 * server (or any writer) runs: `ls`, `info`, `read`, `tail`, `verify`.
 */
import { resolve } from "node:path";
import { CorruptError, InvalidArgumentError, TidemarkError } from "../errors.js";
import { Journal, type JournalRecord } from "../index.js";
import { formatColumns } from "./columns.js";

type Print = (line: string) => void;

/** The streams a server keeps for itself (subscriptions, the signing key, outbox state). */
const INTERNAL_PREFIXES = ["__ds/", "__outbox/"];

export function isInternalStream(name: string): boolean {
  return INTERNAL_PREFIXES.some((prefix) => name.startsWith(prefix));
}

async function openReadOnly(dir: string): Promise<Journal> {
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

export async function ls(dir: string, print: Print): Promise<void> {
  const journal = await openReadOnly(dir);
  try {
    const rows = [["stream", "records", "seqs", "bytes", "last append"]];
    for (const name of journal.list()) {
      const info = (await journal.stream(name)).info();
      rows.push([
        name,
        String(info.records),
        info.records === 0 ? "-" : `${info.firstSeq}..${info.lastSeq}`,
        String(info.bytes),
        info.lastAppendAt === null ? "-" : new Date(info.lastAppendAt).toISOString(),
      ]);
    }
    for (const line of formatColumns(rows)) print(line);
    print(`${journal.list().length} stream(s) in ${resolve(dir)}`);
  } finally {
    await journal.close();
  }
}

export async function info(dir: string, name: string, print: Print): Promise<void> {
  const journal = await openReadOnly(dir);
  try {
    const stream = await journal.stream(name);
    const consumers = stream
      .consumers()
      .map((c) => ({ name: c.name, position: c.position, ackedAt: c.ackedAt }));
    print(
      JSON.stringify(
        {
          ...stream.info(),
          limits: stream.limits,
          retention: stream.retention,
          consumers,
          meta: stream.meta,
        },
        null,
        2,
      ),
    );
  } finally {
    await journal.close();
  }
}

export type RecordFormat = "text" | "json" | "hex";

export function formatRecord(record: JournalRecord, format: RecordFormat): string {
  const payload = Buffer.from(record.payload);
  if (format === "json") {
    return JSON.stringify({
      seq: record.seq,
      timestamp: record.timestamp,
      payload: payload.toString("base64"),
    });
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
  if (isInternalStream(name) && options.internal !== true) {
    throw new InvalidArgumentError(
      `${name} is a stream the server keeps for itself (it may hold secrets, such as the ` +
        "webhook signing key); pass --internal to read it anyway",
      { stream: name },
    );
  }
  const journal = await openReadOnly(dir);
  try {
    const stream = await journal.stream(name);
    const records = options.follow
      ? stream.follow({
          ...(options.after === undefined ? {} : { after: options.after }),
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        })
      : stream.read({
          ...(options.after === undefined ? {} : { after: options.after }),
          ...(options.limit === undefined ? {} : { limit: options.limit }),
        });
    for await (const record of records) print(formatRecord(record, options.format));
  } finally {
    await journal.close();
  }
}

/**
 * Reads every record of every stream and checks it (CRC, seq, order), reporting damage and
 * continuing after it. Resolves with the number of problems found.
 */
export async function verify(dir: string, print: Print, progress: Print): Promise<number> {
  const journal = await openReadOnly(dir);
  let problems = 0;
  try {
    for (const event of journal.recovery) {
      print(`recovery: ${event.kind}: ${event.message}`);
      if (event.kind === "corrupt") problems++;
    }
    const names = journal.list();
    let checked = 0;
    for (const [i, name] of names.entries()) {
      const stream = await journal.stream(name);
      let after = stream.info().firstSeq - 1;
      for (;;) {
        try {
          for await (const record of stream.read({ after })) {
            after = record.seq;
            if (++checked % 1_000_000 === 0)
              progress(`verify: ${checked} records checked (stream ${i + 1} of ${names.length})`);
          }
          break;
        } catch (err) {
          if (!(err instanceof CorruptError)) throw err;
          problems++;
          print(`damage: ${err.message}`);
          const resume = err.context.resumeAfter;
          if (resume === undefined || resume <= after) break;
          after = resume;
        }
      }
    }
    print(
      `verified ${checked} records in ${names.length} stream(s): ${problems === 0 ? "no damage" : `${problems} problem(s)`}`,
    );
    return problems;
  } finally {
    await journal.close();
  }
}
