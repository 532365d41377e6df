/**
 * `tidemark import <file|dir|-> [--format …] [--stream name] [--outbox name] [--append]`: brings
 * data into a journal from a tidemark archive or export, or from the hand-rolled logs tidemark
 * replaces (importers/). It needs the journal's writer lock (seqs and timestamps are kept by
 * writing the streams directly), so it refuses, saying so, while a server runs on the journal.
 *
 * Without --format the format is detected where that is unambiguous (an archive by its magic
 * bytes, the others by file names and shapes); otherwise it asks for --format.
 */
import { open, readdir, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import { ARCHIVE_MAGIC } from "../format/archive.js";
import type { Journal } from "../index.js";
import { importArchive } from "./importers/archive-import.js";
import { ImportReport } from "./importers/import-report.js";
import { importJsonBufferFile } from "./importers/json-buffer-import.js";
import { importJsonlSegments, listJsonlSegments } from "./importers/jsonl-segments-import.js";
import { importNdjson } from "./importers/ndjson-import.js";
import { importOutboxDir, isOutboxDir } from "./importers/outbox-dir-import.js";
import { importSeqLenFile } from "./importers/seq-len-import.js";
import { ByteSource } from "./io/byte-source.js";
import { cliError, openWriter } from "./journal-access.js";
import { Progress } from "./progress.js";

export const IMPORT_FORMATS = [
  "archive",
  "ndjson",
  "jsonl-segments",
  "seq-len",
  "json-buffer",
  "outbox-dir",
] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

export interface ImportOptions {
  dir: string;
  source: string;
  format?: ImportFormat;
  stream?: string;
  outbox?: string;
  append: boolean;
  quiet: boolean;
}

export async function importInto(options: ImportOptions): Promise<ImportReport> {
  const format = options.format ?? (await detectFormat(options.source));
  const isDir = options.source !== "-" && (await stat(options.source)).isDirectory();
  const wantsDir = format === "jsonl-segments" || format === "outbox-dir";
  if (wantsDir && !isDir)
    throw cliError("INVALID_ARGUMENT", `--format ${format} imports a directory`);
  if ((format === "archive" || format === "ndjson") && isDir) {
    throw cliError("INVALID_ARGUMENT", `--format ${format} imports a file (or - for stdin)`);
  }
  const journal = await openWriter(
    options.dir,
    "import writes the streams directly (to keep seqs and timestamps) and needs the writer lock: " +
      "stop that process and import again, or import into another directory and serve that one",
  );
  const report = new ImportReport(format);
  try {
    await run(format, isDir, journal, options, report);
  } finally {
    await journal.close();
  }
  return report;
}

async function run(
  format: ImportFormat,
  isDir: boolean,
  journal: Journal,
  options: ImportOptions,
  report: ImportReport,
): Promise<void> {
  const { source: path } = options;
  const total = path === "-" ? 0 : isDir ? await dirBytes(path) : (await stat(path)).size;
  const progress = new Progress("import", total, options.quiet, "bytes");
  const common = {
    append: options.append,
    progress,
    ...(options.stream === undefined ? {} : { stream: options.stream }),
  };
  try {
    switch (format) {
      case "archive":
      case "ndjson": {
        if (format === "archive" && options.append) {
          throw cliError(
            "INVALID_ARGUMENT",
            "an archive restores whole streams; --append is for the other formats",
          );
        }
        const source = ByteSource.open(path);
        try {
          if (format === "archive") {
            await importArchive(
              source,
              journal,
              {
                sourceName: path,
                progress,
                ...(options.stream === undefined ? {} : { rename: options.stream }),
              },
              report,
            );
          } else {
            await importNdjson(source, journal, { sourceName: path, ...common }, report);
          }
        } finally {
          await source.close();
        }
        return;
      }
      case "jsonl-segments":
        await importJsonlSegments(path, journal, common, report);
        return;
      case "seq-len": {
        const files = isDir
          ? (await readdir(path))
              .filter((f) => f.endsWith(".buf"))
              .sort()
              .map((f) => join(path, f))
          : [path];
        if (isDir && options.stream !== undefined) {
          throw cliError(
            "INVALID_ARGUMENT",
            "a seq-len directory imports one stream per file, named after it; --stream is for one file",
          );
        }
        let offset = 0;
        for (const file of files)
          offset += await importSeqLenFile(file, journal, { ...common, offset }, report);
        report.bytes = offset;
        return;
      }
      case "json-buffer": {
        const files = isDir
          ? (await readdir(path))
              .filter((f) => f.endsWith(".json"))
              .sort()
              .map((f) => join(path, f))
          : [path];
        if (isDir) {
          for (const leftover of (await readdir(path)).filter((f) => f.endsWith(".json.tmp"))) {
            report.problem({
              source: join(path, leftover),
              byte: 0,
              kind: "not-imported",
              reason:
                "the temporary file of an interrupted flush; import it on its own (with --stream) to salvage its complete entries",
            });
          }
          if (options.stream !== undefined) {
            throw cliError(
              "INVALID_ARGUMENT",
              "a json-buffer directory imports one stream per file; --stream is for one file",
            );
          }
        }
        for (const file of files)
          report.bytes += await importJsonBufferFile(file, journal, common, report);
        return;
      }
      case "outbox-dir":
        await importOutboxDir(path, journal, options.outbox, report);
        return;
    }
  } finally {
    progress.stop();
  }
}

/** The format of `path` when it can be told for sure; otherwise asks for --format. */
export async function detectFormat(path: string): Promise<ImportFormat> {
  const ask = (why: string) =>
    cliError(
      "INVALID_ARGUMENT",
      `cannot tell the format of ${path} (${why}); pass --format ${IMPORT_FORMATS.join("|")}`,
    );
  if (path === "-") throw ask("stdin is not looked at ahead");
  const info = await stat(path);
  if (info.isDirectory()) {
    const names = await readdir(path);
    const found: ImportFormat[] = [];
    if ((await listJsonlSegments(path)).length > 0) found.push("jsonl-segments");
    if (names.some((n) => n.endsWith(".buf"))) found.push("seq-len");
    if (names.some((n) => n.endsWith(".json"))) found.push("json-buffer");
    if (await isOutboxDir(path)) found.push("outbox-dir");
    if (found.length === 1) return found[0]!;
    throw ask(
      found.length === 0
        ? "no file in it is in a format tidemark imports"
        : `it could be ${found.join(" or ")}`,
    );
  }
  const head = Buffer.alloc(4096);
  const file = await open(path, "r");
  let got: number;
  try {
    ({ bytesRead: got } = await file.read(head, 0, head.byteLength, 0));
  } finally {
    await file.close();
  }
  if (got >= 4 && head.readUInt32LE(0) === ARCHIVE_MAGIC) return "archive";
  const ext = extname(path);
  if (ext === ".buf") return "seq-len";
  if (ext === ".ndjson" || ext === ".jsonl") return "ndjson";
  const text = head.subarray(0, got).toString("utf8");
  if ((ext === ".json" || ext === ".tmp") && /"entries"\s*:/.test(text)) return "json-buffer";
  throw ask("name it .ndjson, .jsonl, .json or .buf, or say which it is");
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) {
    const info = await stat(join(dir, name));
    if (info.isFile()) total += info.size;
  }
  return total;
}
