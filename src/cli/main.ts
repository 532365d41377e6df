#!/usr/bin/env node
/**
 * The `tidemark` command. The commands are defined in program.ts (one file per concern under
 * src/cli/); this file runs them and turns what goes wrong into one line on stderr, the error's
 * code and a sentence meant for the command line, and an exit code from exit-codes.ts. Never a
 * stack trace (TIDEMARK_DEBUG=1 shows one).
 */
import { CommanderError } from "commander";
import { TidemarkError } from "../errors.js";
import { EXIT } from "./exit-codes.js";
import { describeHolder, lockHolderOf } from "./journal-access.js";
import { buildProgram } from "./program.js";

const err = (line: string) => process.stderr.write(`${line}\n`);

/** Codes that mean the command was asked for something malformed: exit 2, like a bad option. */
const USAGE_CODES = new Set(["INVALID_ARGUMENT", "INVALID_NAME"]);

/** The sentence for the command line: the library's own, except where it speaks to library users. */
export function cliMessage(error: TidemarkError): string {
  const holder = lockHolderOf(error);
  if (holder !== undefined && error.message.includes("readOnly")) {
    return `the journal is open for writing by ${describeHolder(holder)}; this command needs the writer lock: stop that process first`;
  }
  return error.message;
}

const program = buildProgram();
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and --version exit 0; every usage error was already printed by commander.
    process.exit(error.exitCode === 0 ? EXIT.OK : EXIT.USAGE);
  }
  if (error instanceof TidemarkError) {
    err(`tidemark: ${cliMessage(error)} [${error.code}]`);
    process.exit(
      error.code === "JOURNAL_LOCKED"
        ? EXIT.LOCKED
        : USAGE_CODES.has(error.code)
          ? EXIT.USAGE
          : EXIT.ERROR,
    );
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "EPIPE") process.exit(EXIT.OK); // the reader of our output went away: stop quietly
  if (code === "ENOENT" || code === "EACCES" || code === "EISDIR" || code === "ENOTDIR") {
    const path = (error as NodeJS.ErrnoException).path;
    const what = {
      ENOENT: "does not exist",
      EACCES: "cannot be accessed (permission denied)",
      EISDIR: "is a directory",
      ENOTDIR: "is not a directory",
    }[code];
    err(`tidemark: ${path ?? "a file"} ${what} [${code === "ENOENT" ? "NOT_FOUND" : "IO_ERROR"}]`);
    process.exit(EXIT.ERROR);
  }
  const detail = error instanceof Error ? error.message : String(error);
  err(`tidemark: unexpected error: ${detail} [INTERNAL]`);
  if (process.env["TIDEMARK_DEBUG"] === "1" && error instanceof Error) err(error.stack ?? "");
  process.exit(EXIT.ERROR);
}
