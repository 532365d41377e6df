/**
 * `--format outbox-dir --outbox <name>`: a directory with one directory per queued HTTP write
 * (an offline client's outbox): `<id>/meta.json` (method, raw_uri, content_type, base_mod_time,
 * queued_at) and `<id>/body.bin`; a write the upstream refused with 412 renamed to
 * `<id>.conflict-<time>`. Each becomes an entry of the tidemark outbox, in id order (the queue
 * order): pending ones are delivered when the outbox runs, conflicts are kept as conflicts, to
 * be retried or discarded (`tidemark outbox retry|discard`). The entry's key is its target path,
 * so writes to one document still go one at a time, in order; `base_mod_time` becomes an
 * If-Unmodified-Since precondition, `queued_at` the time it was enqueued.
 *
 * A directory without meta.json (a crash between the body and its metadata), with a meta.json
 * that is not JSON, or without body.bin, is reported and left on disk, not imported.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Journal } from "../../index.js";
import { NO_UPSTREAM, Outbox, type OutboxEntryInput } from "../../outbox/index.js";
import { cliError } from "../journal-access.js";
import type { ImportReport } from "./import-report.js";

const CONFLICT_MARK = ".conflict-";
/** Go's zero time.Time, written when an entry has no base version. */
const ZERO_TIME_MS = Date.parse("0001-01-01T00:00:00Z");

export async function isOutboxDir(dir: string): Promise<boolean> {
  for (const name of await readdir(dir)) {
    const entry = join(dir, name);
    if ((await stat(entry)).isDirectory()) {
      const files = await readdir(entry);
      if (files.includes("meta.json") || files.includes("body.bin")) return true;
    }
  }
  return false;
}

export async function importOutboxDir(
  dir: string,
  journal: Journal,
  outboxName: string | undefined,
  report: ImportReport,
): Promise<void> {
  if (outboxName === undefined) {
    throw cliError(
      "INVALID_ARGUMENT",
      "--format outbox-dir needs --outbox <name>: the tidemark outbox to fill",
    );
  }
  const outbox = await Outbox.open(journal, outboxName, { upstream: NO_UPSTREAM });
  const summary = { outbox: outboxName, pending: 0, conflicts: 0 };
  report.outbox = summary;
  try {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const path = join(dir, name);
      if (!(await stat(path)).isDirectory()) continue;
      const conflict = name.includes(CONFLICT_MARK);
      const files = await readdir(path);
      const problem = (reason: string, kind: "torn" | "garbled" = "torn") =>
        report.problem({
          source: path,
          byte: 0,
          kind,
          reason: `${reason}; not imported (left on disk)`,
        });
      if (!files.includes("meta.json")) {
        problem(
          files.includes("body.bin")
            ? "body.bin without meta.json: the write was interrupted before its metadata"
            : "no meta.json",
        );
        continue;
      }
      let meta: Record<string, unknown>;
      try {
        meta = JSON.parse(await readFile(join(path, "meta.json"), "utf8")) as Record<
          string,
          unknown
        >;
      } catch {
        problem("meta.json is not JSON", "garbled");
        continue;
      }
      if (!files.includes("body.bin")) {
        problem("meta.json without body.bin");
        continue;
      }
      const method = typeof meta["method"] === "string" ? meta["method"] : undefined;
      const target = typeof meta["raw_uri"] === "string" ? meta["raw_uri"] : undefined;
      if (method === undefined || target === undefined) {
        problem("meta.json lacks method or raw_uri", "garbled");
        continue;
      }
      const headers: Record<string, string> = {};
      if (typeof meta["content_type"] === "string" && meta["content_type"] !== "") {
        headers["content-type"] = meta["content_type"];
      }
      const input: OutboxEntryInput = {
        key: target.split("?")[0]!,
        method,
        target,
        headers,
        body: await readFile(join(path, "body.bin")),
      };
      const base =
        typeof meta["base_mod_time"] === "string" ? Date.parse(meta["base_mod_time"]) : Number.NaN;
      if (Number.isFinite(base) && base > ZERO_TIME_MS) {
        input.precondition = { ifUnmodifiedSince: new Date(base).toUTCString() };
      }
      const queued =
        typeof meta["queued_at"] === "string" ? Date.parse(meta["queued_at"]) : Number.NaN;
      try {
        await outbox.importEntry(input, {
          ...(Number.isFinite(queued) && queued > 0 ? { enqueuedAt: queued } : {}),
          ...(conflict
            ? {
                held: {
                  kind: "conflict" as const,
                  reason: `a conflict (412) in the source outbox: ${name}`,
                },
              }
            : {}),
        });
      } catch (err) {
        problem(`refused: ${(err as Error).message}`, "garbled");
        continue;
      }
      if (conflict) summary.conflicts++;
      else summary.pending++;
    }
  } finally {
    await outbox.close();
  }
}
