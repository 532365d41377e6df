#!/usr/bin/env node
/**
 * The `tidemark` command. One file per concern under src/cli/; this file only wires them up.
 */
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from "commander";
import { TidemarkError } from "../errors.js";
import { demo } from "./demo.js";
import { info, ls, type RecordFormat, read, verify } from "./inspect.js";
import { outboxDiscard, outboxLs, outboxRetry, outboxShow } from "./outbox.js";
import { serve } from "./serve.js";

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

function seq(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw new CommanderArgumentError("expected a non-negative integer");
  return Number(value);
}

const dirOption = () =>
  new Option("-d, --dir <dir>", "journal directory").default("./tidemark-data").env("TIDEMARK_DIR");

const program = new Command()
  .name("tidemark")
  .description(
    "Durable, bounded, resumable event streams: the Durable Streams server and journal tools",
  )
  .showHelpAfterError();

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
  .action(async (opts: Record<string, string | undefined>) => {
    await serve({
      config: opts["config"],
      dir: opts["dir"],
      host: opts["host"],
      port: opts["port"],
      durability: opts["durability"],
      longPollTimeoutMs: opts["longPollTimeoutMs"],
      logLevel: opts["logLevel"],
    });
  });

program
  .command("ls")
  .description("list the streams of a journal (read-only; works while it is being written)")
  .addOption(dirOption())
  .action(async (opts: { dir: string }) => ls(opts.dir, out));

program
  .command("info")
  .description("show one stream: seqs, bytes, limits, consumers, metadata")
  .argument("<stream>", "stream name")
  .addOption(dirOption())
  .action(async (name: string, opts: { dir: string }) => info(opts.dir, name, out));

for (const follow of [false, true]) {
  program
    .command(follow ? "tail" : "read")
    .description(
      follow
        ? "print a stream's records and follow new ones (Ctrl-C to stop)"
        : "print a stream's records",
    )
    .argument("<stream>", "stream name")
    .addOption(dirOption())
    .option("-a, --after <seq>", "start after this seq (default: the oldest record held)", seq)
    .option("-n, --limit <count>", "print at most this many", seq)
    .addOption(
      new Option("-f, --format <format>", "text, json (payload in base64) or hex")
        .choices(["text", "json", "hex"])
        .default("text"),
    )
    .option("--internal", "allow reading a server's internal stream (__ds/…, __outbox/…)")
    .action(
      async (
        name: string,
        opts: {
          dir: string;
          after?: number;
          limit?: number;
          format: RecordFormat;
          internal?: boolean;
        },
      ) => {
        const controller = new AbortController();
        process.once("SIGINT", () => controller.abort());
        await read(opts.dir, name, { ...opts, follow, signal: controller.signal }, out);
      },
    );
}

program
  .command("verify")
  .description("read and check every record of every stream; exit 1 if anything is damaged")
  .addOption(dirOption())
  .action(async (opts: { dir: string }) => {
    const problems = await verify(opts.dir, out, err);
    if (problems > 0) process.exitCode = 1;
  });

const outbox = program
  .command("outbox")
  .description("inspect and manage outboxes: pending entries, conflicts, dead letters");
outbox
  .command("ls")
  .description("list the outboxes of a journal: pending, oldest, conflicts, dead letters")
  .addOption(dirOption())
  .option("--json", "print JSON")
  .action(async (opts: { dir: string; json?: boolean }) =>
    outboxLs(opts.dir, opts.json === true, out),
  );
outbox
  .command("show")
  .description("show an outbox's conflicts, dead letters and pending entries, or one entry")
  .argument("<outbox>", "outbox name")
  .argument("[id]", "one entry, in full (headers, the upstream's answer, the body)")
  .addOption(dirOption())
  .option("--json", "print JSON")
  .action(async (name: string, id: string | undefined, opts: { dir: string; json?: boolean }) =>
    outboxShow(opts.dir, name, id, opts.json === true, out),
  );
outbox
  .command("retry")
  .description("put a conflict or dead letter back in line (needs the journal's writer lock)")
  .argument("<outbox>", "outbox name")
  .argument("<id>", "entry id")
  .addOption(dirOption())
  .option("--if-match <etag>", "a new If-Match precondition (e.g. the ETag the conflict returned)")
  .option("--if-unmodified-since <date>", "a new If-Unmodified-Since precondition")
  .option(
    "--header <name:value>",
    "add or replace a header (repeatable)",
    (value: string, all: string[] = []) => [...all, value],
  )
  .action(
    async (
      name: string,
      id: string,
      opts: { dir: string; ifMatch?: string; ifUnmodifiedSince?: string; header?: string[] },
    ) => outboxRetry(opts.dir, name, id, opts, out),
  );
outbox
  .command("discard")
  .description("drop a conflict or dead letter for good (needs the journal's writer lock)")
  .argument("<outbox>", "outbox name")
  .argument("<id>", "entry id")
  .addOption(dirOption())
  .action(async (name: string, id: string, opts: { dir: string }) =>
    outboxDiscard(opts.dir, name, id, out),
  );

program
  .command("demo")
  .description("append, read and follow a stream in a local journal, and show what happened")
  .argument("[dir]", "journal directory", "./tidemark-data")
  .action(async (dir: string) => demo(dir, out));

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof TidemarkError) {
    err(`tidemark: ${error.message} [${error.code}]`);
    process.exit(1);
  }
  // A bug, not an operating error: one line for the user, the stack only when asked for.
  err(`tidemark: ${error instanceof Error ? error.message : String(error)} [INTERNAL]`);
  if (process.env["TIDEMARK_DEBUG"] === "1") err(String((error as Error).stack));
  else err("tidemark: set TIDEMARK_DEBUG=1 to see where it happened");
  process.exit(1);
}
