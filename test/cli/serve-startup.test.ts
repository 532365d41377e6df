/**
 * Every way `tidemark serve` can fail to start answers with one line, a sentence and a code,
 * never a stack trace, and exits 1: each case runs the real command as its own process.
 *
 * Permission cases need a user the kernel checks: as root (CI) they run as `nobody` (uid
 * 65534), for whom a port below 1024, a directory or a config file owned by root with mode 0700
 * or 0600 are refused with EACCES; root itself is never refused those.
 */
import { execFile } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Journal } from "../../src/index.js";
import { tempDir } from "../support/tmp-dir.js";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const NOBODY = 65_534;
const asRoot = process.getuid?.() === 0;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function serve(args: string[], user: { uid?: number; gid?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", MAIN, "serve", ...args],
      { timeout: 30_000, ...user },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr }),
    );
  });
}

/** One line naming the code, no stack frame; exit 2 for usage (README "Exit codes"), else 1. */
function expectCleanFailure(run: Run, code: string, sentence: RegExp): void {
  expect(run.code, run.stderr).toBe(code === "INVALID_ARGUMENT" ? 2 : 1);
  const lines = run.stderr.trim().split("\n");
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^tidemark: .+ \\[${code}\\]$`));
  expect(lines[0]).toMatch(sentence);
  expect(run.stderr).not.toMatch(/\n\s+at /);
}

/** A directory `nobody` may enter (under one it can traverse). */
function openBase(): string {
  const base = tempDir("tidemark-startup");
  chmodSync(base, 0o755);
  return base;
}

/** A journal directory `nobody` owns, so that only the case under test is refused. */
function nobodysDir(): string {
  const dir = join(openBase(), "data");
  mkdirSync(dir);
  if (asRoot) chownSync(dir, NOBODY, NOBODY);
  return dir;
}

const unprivileged = asRoot ? { uid: NOBODY, gid: NOBODY } : {};

describe("tidemark serve: startup failures", () => {
  let holder: Server;
  let heldPort: number;
  beforeAll(async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    heldPort = (holder.address() as { port: number }).port;
  });
  afterAll(() => holder.close());

  it("a port another process holds: ADDRESS_IN_USE, and the journal is left unlocked", async () => {
    const dir = tempDir();
    const run = await serve(["--dir", dir, "--port", String(heldPort)]);
    expectCleanFailure(
      run,
      "ADDRESS_IN_USE",
      new RegExp(`127\\.0\\.0\\.1:${heldPort} is already in use`),
    );
    const journal = await Journal.open(dir); // the lock was released on the way out
    await journal.close();
  }, 60_000);

  it("a port out of range: INVALID_ARGUMENT", async () => {
    const run = await serve(["--dir", tempDir(), "--port", "99999"]);
    expectCleanFailure(run, "INVALID_ARGUMENT", /port must be an integer from 0 to 65535/);
  }, 60_000);

  it("a public URL that is not an http(s) URL: INVALID_ARGUMENT naming publicUrl", async () => {
    const run = await serve(["--dir", tempDir(), "--public-url", "ftp://streams.example.com"]);
    expectCleanFailure(run, "INVALID_ARGUMENT", /publicUrl must be an http:\/\/ or https:\/\/ URL/);
  }, 60_000);

  it("an unknown log level: INVALID_ARGUMENT", async () => {
    const run = await serve(["--dir", tempDir(), "--log-level", "verbose"]);
    expectCleanFailure(run, "INVALID_ARGUMENT", /unknown log level "verbose"/);
  }, 60_000);

  it("a port below 1024 for a user who may not bind it: PERMISSION_DENIED", async () => {
    const run = await serve(["--dir", nobodysDir(), "--port", "80"], unprivileged);
    expectCleanFailure(run, "PERMISSION_DENIED", /may not listen on 127\.0\.0\.1:80 .*below 1024/);
  }, 60_000);

  it("a journal directory the user may not read: PERMISSION_DENIED", async () => {
    const dir = join(openBase(), "data");
    mkdirSync(dir, { mode: 0o700 }); // root's
    const run = await serve(["--dir", dir, "--port", "0"], unprivileged);
    expectCleanFailure(run, "PERMISSION_DENIED", /permission denied .*check the owner and mode of/);
  }, 60_000);

  it("a config file the user may not read: PERMISSION_DENIED", async () => {
    const config = join(openBase(), "config.json");
    writeFileSync(config, "{}", { mode: 0o600 }); // root's
    const run = await serve(
      ["--config", config, "--dir", nobodysDir(), "--port", "0"],
      unprivileged,
    );
    expectCleanFailure(run, "PERMISSION_DENIED", /may not read the config file/);
  }, 60_000);

  it("a journal path that is a file: IO_ERROR naming it", async () => {
    const file = join(tempDir(), "not-a-dir");
    writeFileSync(file, "x");
    const run = await serve(["--dir", file, "--port", "0"]);
    expectCleanFailure(run, "IO_ERROR", /not-a-dir/);
  }, 60_000);

  it("a config with a typo inside streamLimits: INVALID_ARGUMENT naming the key's path", async () => {
    const config = join(tempDir(), "config.json");
    writeFileSync(config, JSON.stringify({ streamLimits: { recordsmax: 5 } }));
    const run = await serve(["--config", config, "--dir", tempDir(), "--port", "0"]);
    expectCleanFailure(
      run,
      "INVALID_ARGUMENT",
      /streamLimits\.recordsmax \(did you mean recordsMax\?\)/,
    );
  }, 60_000);
});
