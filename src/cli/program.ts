/**
 * The commands of `tidemark` and their options (commander). Each action calls the module that
 * does the work; what a command prints for people and with `--json` is decided there. Exit
 * codes are in exit-codes.ts; shell completion comes from @bomb.sh/tab (`tidemark complete`).
 */
import { readFileSync } from "node:fs";
import tab from "@bomb.sh/tab/commander";
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from "commander";
import { parseDuration, rm, stats, trim } from "./admin.js";
import { demo } from "./demo.js";
import { EXIT } from "./exit-codes.js";
import { type ExportFormat, exportStreams } from "./export.js";
import { IMPORT_FORMATS, type ImportFormat, importInto } from "./import.js";
import { describeProblem } from "./importers/import-report.js";
import { info, ls, type RecordFormat, read, verify } from "./inspect.js";
import { outboxDiscard, outboxLs, outboxRetry, outboxShow } from "./outbox.js";
import { repair } from "./repair.js";
import { serve } from "./serve.js";

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

function seq(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw new CommanderArgumentError("expected a non-negative integer");
  return Number(value);
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

const dirOption = () =>
  new Option("-d, --dir <dir>", "journal directory").default("./tidemark-data").env("TIDEMARK_DIR");
const jsonOption = () => new Option("--json", "print JSON (shapes in the README)");
const quietOption = () => new Option("-q, --quiet", "no progress bar");
const urlOption = () =>
  new Option(
    "--url <url>",
    "the server to go through while it holds the journal (default http://127.0.0.1:4437)",
  ).env("TIDEMARK_URL");
const tokenOption = () =>
  new Option("--token <token>", "bearer token for that server").env("TIDEMARK_TOKEN");

interface Common {
  dir: string;
  json?: boolean;
  quiet?: boolean;
  url?: string;
  token?: string;
}

const remote = (opts: Common) => ({
  ...(opts.url === undefined ? {} : { url: opts.url }),
  ...(opts.token === undefined ? {} : { token: opts.token }),
});

export function buildProgram(): Command {
  const program = new Command()
    .name("tidemark")
    .description(
      "Durable, bounded, resumable event streams: the Durable Streams server and journal tools",
    )
    .version(version(), "-V, --version", "print the version")
    .showHelpAfterError()
    .exitOverride();

  program
    .command("serve")
    .description("serve a local journal over the Durable Streams protocol (default 127.0.0.1:4437)")
    .option("-c, --config <file>", "JSON config file (also TIDEMARK_CONFIG)")
    .option("-d, --dir <dir>", "journal directory (default ./tidemark-data; also TIDEMARK_DIR)")
    .option("-H, --host <host>", "address to bind (default 127.0.0.1; others need auth)")
    .option("-p, --port <port>", "port (default 4437; 0 picks a free one)")
    .option("--durability <mode>", "always | batch | none (default always)")
    .option("--long-poll-timeout-ms <ms>", "longest long-poll wait (default 20000)")
    .option("--log-level <level>", "fatal | error | warn | info | debug (default info)")
    .option(
      "--public-url <url>",
      "the URL clients reach this server at, behind a proxy or load balancer (webhook callbacks)",
    )
    .option(
      "--nats <urls>",
      "keep the streams in NATS JetStream at these servers (comma-separated; also TIDEMARK_NATS)",
    )
    .action(async (opts: Record<string, string | undefined>) => {
      await serve({
        config: opts["config"],
        nats: opts["nats"],
        dir: opts["dir"],
        host: opts["host"],
        port: opts["port"],
        durability: opts["durability"],
        longPollTimeoutMs: opts["longPollTimeoutMs"],
        logLevel: opts["logLevel"],
        publicUrl: opts["publicUrl"],
      });
    });

  program
    .command("ls")
    .description("list the streams of a journal (read-only; works while it is being written)")
    .addOption(dirOption())
    .option(
      "-a, --all",
      "include the internal streams of the server (__ds/…) and outboxes (__outbox/…)",
    )
    .addOption(jsonOption())
    .action((opts: Common & { all?: boolean }) =>
      ls(opts.dir, { all: opts.all === true, json: opts.json === true }, out),
    );

  program
    .command("info")
    .description("show one stream: seqs, bytes, limits, lost seqs, consumers, metadata")
    .argument("<stream>", "stream name")
    .addOption(dirOption())
    .addOption(jsonOption())
    .action((name: string, opts: Common) => info(opts.dir, name, opts.json === true, out));

  for (const follow of [false, true]) {
    program
      .command(follow ? "tail" : "read")
      .description(
        follow
          ? "print a stream's records and follow new ones (Ctrl-C, or --limit, to stop)"
          : "print a stream's records",
      )
      .argument("<stream>", "stream name")
      .addOption(dirOption())
      .option("-a, --after <seq>", "start after this seq (default: the oldest record held)", seq)
      .option("-n, --limit <count>", "print at most this many, then stop", seq)
      .addOption(
        new Option(
          "-f, --format <format>",
          "text, hex, or json (JSON payloads as JSON, text as text, else base64)",
        )
          .choices(["text", "json", "hex"])
          .default("text"),
      )
      .option("--json", "the same as --format json")
      .option("--internal", "allow reading a server's internal stream (__ds/…, __outbox/…)")
      .action(
        async (
          name: string,
          opts: Common & {
            after?: number;
            limit?: number;
            format: RecordFormat;
            internal?: boolean;
          },
        ) => {
          const controller = new AbortController();
          process.once("SIGINT", () => controller.abort());
          const format = opts.json === true ? "json" : opts.format;
          await read(opts.dir, name, { ...opts, format, follow, signal: controller.signal }, out);
        },
      );
  }

  program
    .command("verify")
    .description("read and check every record of every stream; exit 3 if anything is damaged")
    .addOption(dirOption())
    .addOption(jsonOption())
    .addOption(quietOption())
    .action(async (opts: Common) => {
      const json = opts.json === true;
      const result = await verify(opts.dir, { quiet: opts.quiet === true }, (p) => {
        if (!json) out(`${p.kind}: ${p.message}`);
      });
      if (json) out(JSON.stringify(result));
      else {
        out(
          `verified ${result.records} records in ${result.streams} stream(s): ${
            result.problems.length === 0
              ? "no damage"
              : `${result.problems.length} problem(s); tidemark repair acts on them`
          }`,
        );
      }
      if (result.problems.length > 0) process.exitCode = EXIT.DAMAGE;
    });

  program
    .command("repair")
    .description(
      "cut out the damage verify finds (kept under quarantine/), rebuild indexes and checkpoints",
    )
    .argument("[streams...]", "streams to repair")
    .option("--all", "every stream")
    .option("-n, --dry-run", "say what would be done, change nothing")
    .addOption(dirOption())
    .addOption(jsonOption())
    .addOption(quietOption())
    .action(async (names: string[], opts: Common & { all?: boolean; dryRun?: boolean }) => {
      const report = await repair({
        dir: opts.dir,
        streams: names,
        all: opts.all === true,
        dryRun: opts.dryRun === true,
        quiet: opts.quiet === true,
      });
      if (opts.json === true) out(JSON.stringify(report));
      else for (const line of report.lines()) out(line);
      process.exitCode = report.exitCode();
    });

  program
    .command("export")
    .description("write streams to a file or stdout: a tidemark archive, NDJSON, or raw payloads")
    .argument("[streams...]", "streams to export")
    .option("--all", "every stream (internal ones included)")
    .option("-a, --after <seq>", "only records after this seq", seq)
    .addOption(
      new Option("-f, --format <format>", "archive, ndjson or raw")
        .choices(["archive", "ndjson", "raw"])
        .default("archive"),
    )
    .option("-o, --output <file>", "where to write (- is stdout)", "-")
    .addOption(dirOption())
    .addOption(jsonOption())
    .addOption(quietOption())
    .action(
      async (
        names: string[],
        opts: Common & { all?: boolean; after?: number; format: ExportFormat; output: string },
      ) => {
        const summary = await exportStreams({
          dir: opts.dir,
          streams: names,
          all: opts.all === true,
          ...(opts.after === undefined ? {} : { after: opts.after }),
          format: opts.format,
          output: opts.output,
          quiet: opts.quiet === true,
        });
        // stdout may be the export itself: the summary goes to stderr.
        if (opts.json === true) err(JSON.stringify(summary));
        else if (opts.quiet !== true) {
          err(
            `exported ${summary.records} records of ${summary.streams.length} stream(s), ${summary.bytes} bytes (${opts.format})`,
          );
        }
      },
    );

  program
    .command("import")
    .description(
      "import an archive or export, or a log tidemark replaces, into a journal (needs the writer lock)",
    )
    .argument("<source>", "file or directory (- is stdin)")
    .addOption(
      new Option(
        "-f, --format <format>",
        "the source's format (detected when unambiguous)",
      ).choices([...IMPORT_FORMATS]),
    )
    .option("-s, --stream <name>", "the stream to import into (default: from the source)")
    .option("--outbox <name>", "the outbox to fill (--format outbox-dir)")
    .option("--append", "append to a stream that exists (seqs renumbered, timestamps of now)")
    .addOption(dirOption())
    .addOption(jsonOption())
    .addOption(quietOption())
    .action(
      async (
        source: string,
        opts: Common & {
          format?: ImportFormat;
          stream?: string;
          outbox?: string;
          append?: boolean;
        },
      ) => {
        const report = await importInto({
          dir: opts.dir,
          source,
          ...(opts.format === undefined ? {} : { format: opts.format }),
          ...(opts.stream === undefined ? {} : { stream: opts.stream }),
          ...(opts.outbox === undefined ? {} : { outbox: opts.outbox }),
          append: opts.append === true,
          quiet: opts.quiet === true,
        });
        if (opts.json === true) out(JSON.stringify(report));
        else {
          for (const s of report.streams) {
            const seqs =
              s.records === 0 ? "no records" : `seqs ${s.firstSeq}..${s.lastSeq} (${s.seqs})`;
            const lost =
              s.lost.length === 0
                ? ""
                : `; lost seqs ${s.lost.map(([a, b]) => (a === b ? `${a}` : `${a}..${b}`)).join(", ")}`;
            const raised =
              s.raised === 0
                ? ""
                : `; ${s.raised} timestamp(s) raised to the one before (first at seq ${s.firstRaisedSeq})`;
            out(
              `imported ${s.stream}: ${s.records} records, ${seqs}, timestamps: ${s.timestamps}${lost}${raised}${s.note === undefined ? "" : `; ${s.note}`}`,
            );
          }
          if (report.outbox !== undefined) {
            out(
              `imported into outbox ${report.outbox.outbox}: ${report.outbox.pending} pending, ${report.outbox.conflicts} conflict(s)`,
            );
          }
          for (const p of report.problems) out(describeProblem(p));
          if (report.problemsNotListed > 0)
            out(`… and ${report.problemsNotListed} more problem(s)`);
        }
        if (report.problemCount > 0) process.exitCode = EXIT.DAMAGE;
      },
    );

  program
    .command("rm")
    .description("delete a stream (through the server while it holds the journal)")
    .argument("<stream>", "stream name")
    .addOption(dirOption())
    .addOption(urlOption())
    .addOption(tokenOption())
    .addOption(jsonOption())
    .action(async (name: string, opts: Common) => {
      const result = await rm(
        opts.dir,
        name,
        remote(opts),
        opts.json === true ? () => undefined : out,
      );
      if (opts.json === true) out(JSON.stringify({ ...result, stream: name }));
    });

  program
    .command("trim")
    .description(
      "release a stream's oldest records (through the server while it holds the journal)",
    )
    .argument("<stream>", "stream name")
    .option("--before <seq>", "release every record with a seq below this", seq)
    .option("--older-than <duration>", "release records older than this: 90s, 30m, 12h, 7d")
    .addOption(dirOption())
    .addOption(urlOption())
    .addOption(tokenOption())
    .addOption(jsonOption())
    .action(async (name: string, opts: Common & { before?: number; olderThan?: string }) => {
      const result = await trim(
        opts.dir,
        name,
        {
          ...remote(opts),
          ...(opts.before === undefined ? {} : { before: opts.before }),
          ...(opts.olderThan === undefined ? {} : { olderThanMs: parseDuration(opts.olderThan) }),
        },
        opts.json === true ? () => undefined : out,
      );
      if (opts.json === true) out(JSON.stringify(result));
    });

  program
    .command("stats")
    .description(
      "disk use against the limits: journal, disk free, streams, consumers and how far behind",
    )
    .addOption(dirOption())
    .option(
      "-c, --config <file>",
      "the server's config file, for the journal's limits (also TIDEMARK_CONFIG)",
    )
    .option("-a, --all", "include internal streams")
    .addOption(jsonOption())
    .action(async (opts: Common & { config?: string; all?: boolean }) => {
      const config = opts.config ?? process.env["TIDEMARK_CONFIG"];
      await stats(
        opts.dir,
        {
          ...(config === undefined ? {} : { config }),
          all: opts.all === true,
          json: opts.json === true,
        },
        out,
      );
    });

  const outbox = program
    .command("outbox")
    .description("inspect and manage outboxes: pending entries, conflicts, dead letters");
  outbox
    .command("ls")
    .description("list the outboxes of a journal: pending, oldest, conflicts, dead letters")
    .addOption(dirOption())
    .addOption(jsonOption())
    .action((opts: Common) => outboxLs(opts.dir, opts.json === true, out));
  outbox
    .command("show")
    .description("show an outbox's conflicts, dead letters and pending entries, or one entry")
    .argument("<outbox>", "outbox name")
    .argument("[id]", "one entry, in full (headers, the upstream's answer, the body)")
    .addOption(dirOption())
    .addOption(jsonOption())
    .action((name: string, id: string | undefined, opts: Common) =>
      outboxShow(opts.dir, name, id, opts.json === true, out),
    );
  outbox
    .command("retry")
    .description("put a conflict or dead letter back in line (through the server while it runs)")
    .argument("<outbox>", "outbox name")
    .argument("<id>", "entry id")
    .addOption(dirOption())
    .option(
      "--if-match <etag>",
      "a new If-Match precondition (e.g. the ETag the conflict returned)",
    )
    .option("--if-unmodified-since <date>", "a new If-Unmodified-Since precondition")
    .option(
      "--header <name:value>",
      "add or replace a header (repeatable)",
      (value: string, all: string[] = []) => [...all, value],
    )
    .addOption(urlOption())
    .addOption(tokenOption())
    .action(
      (
        name: string,
        id: string,
        opts: Common & { ifMatch?: string; ifUnmodifiedSince?: string; header?: string[] },
      ) => outboxRetry(opts.dir, name, id, { ...opts, ...remote(opts) }, out),
    );
  outbox
    .command("discard")
    .description("drop a conflict or dead letter for good (through the server while it runs)")
    .argument("<outbox>", "outbox name")
    .argument("<id>", "entry id")
    .addOption(dirOption())
    .addOption(urlOption())
    .addOption(tokenOption())
    .action((name: string, id: string, opts: Common) =>
      outboxDiscard(opts.dir, name, id, remote(opts), out),
    );

  program
    .command("demo")
    .description(
      "append, read and follow a stream in a journal (a fresh temp directory unless given)",
    )
    .argument("[dir]", "journal directory (default: a new one under the system's temp directory)")
    .action((dir: string | undefined) => demo(dir, out));

  // `tidemark complete bash|zsh|fish|powershell` prints a completion script.
  tab(program);
  return program;
}
