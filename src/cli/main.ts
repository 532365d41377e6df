#!/usr/bin/env node
/**
 * The `tidemark` command. One file per command under src/cli/; this file only wires them up.
 */
import { Command } from "commander";
import { TidemarkError } from "../errors.js";
import { demo } from "./demo.js";

const program = new Command()
  .name("tidemark")
  .description(
    "Durable, bounded, resumable event streams: journal tools and the Durable Streams server",
  );

program
  .command("demo")
  .description("append, read and follow a stream in a local journal, and show what happened")
  .argument("[dir]", "journal directory", "./tidemark-data")
  .action(async (dir: string) => {
    await demo(dir, (line) => process.stdout.write(`${line}\n`));
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof TidemarkError) {
    process.stderr.write(`tidemark: ${err.message} [${err.code}]\n`);
    process.exit(1);
  }
  throw err;
}
