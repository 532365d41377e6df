/**
 * The CLI as scripts use it, as real processes: exit codes, errors as one line with their code,
 * --version, `tail --limit`, `demo` without a directory, shell completion, and progress bars:
 * drawn on a terminal (run under a pseudo-terminal with util-linux `script`), never when the
 * output is piped or with --quiet, where stdout carries only the data.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Journal } from "../../src/index.js";
import { MAIN, tidemark } from "../support/cli.js";
import { tempDir } from "../support/tmp-dir.js";

let dir: string;

beforeAll(async () => {
  dir = tempDir("scripting");
  const journal = await Journal.open(dir, { durability: "none" });
  const big = await journal.stream("big");
  const batch = Array.from({ length: 1000 }, (_, i) => `{"n":${i},"pad":"${"x".repeat(40)}"}`);
  for (let i = 0; i < 800; i++) await big.appendMany(batch);
  const small = await journal.stream("small");
  await small.appendMany(["a", "b", "c", "d", "e"]);
  await journal.close();
}, 120_000);

/** Runs a command line under a pseudo-terminal; resolves with everything the terminal showed. */
function underTerminal(command: string[]): Promise<{ code: number; screen: string }> {
  // Bars from the first record: how long the work takes here must not decide what is tested.
  const line = [
    "env",
    "TIDEMARK_PROGRESS_AFTER_MS=0",
    process.execPath,
    "--import",
    "tsx",
    MAIN,
    ...command,
  ].join(" ");
  return new Promise((resolve) => {
    execFile(
      "script",
      ["-qfec", line, "/dev/null"],
      { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout) => {
        resolve({
          code: error === null ? 0 : typeof error.code === "number" ? error.code : 1,
          screen: stdout,
        });
      },
    );
  });
}

describe("progress bars", () => {
  it("are drawn on a terminal for an export that takes over a second, with records, bytes, rate and time left", async () => {
    const out = join(tempDir("progress"), "big.ndjson");
    const run = await underTerminal([
      "export",
      "big",
      "--format",
      "ndjson",
      "--dir",
      dir,
      "-o",
      out,
    ]);
    expect(run.code, run.screen).toBe(0);
    expect(run.screen).toMatch(
      /export \|[█░]+\| \d+% \| \d+\/800000 records \| [\d.]+ (KiB|MiB) \| [\d.]+[kM]?\/s \| /,
    );
    expect(run.screen).toMatch(/left/);
    expect(readFileSync(out, "utf8").split("\n")).toHaveLength(800_001);
  });

  it("are not drawn with --quiet, nor when stderr is not a terminal; piped stdout is only the data", async () => {
    const quiet = await underTerminal([
      "export",
      "small",
      "--format",
      "ndjson",
      "--dir",
      dir,
      "--quiet",
    ]);
    // On the terminal: the five records and nothing else (no bar, no summary).
    const shown = quiet.screen.replace(/\r/g, "").trim().split("\n");
    expect(shown.map((l) => JSON.parse(l).text)).toEqual(["a", "b", "c", "d", "e"]);
    expect(quiet.screen).not.toMatch(/[█░]|exported/);
    const piped = await tidemark(["export", "big", "--format", "ndjson", "--dir", dir]);
    expect(piped.code).toBe(0);
    expect(piped.stderr).not.toMatch(/[█░]/);
    expect(piped.stderr).toMatch(/^exported 800000 records of 1 stream\(s\)/);
    const file = join(tempDir("piped"), "big.ndjson");
    await tidemark(["export", "big", "--format", "ndjson", "--dir", dir, "-o", file, "--quiet"]);
    expect(piped.bytes.equals(readFileSync(file))).toBe(true);
  });

  it("show verify's progress on a terminal too", async () => {
    const run = await underTerminal(["verify", "--dir", dir]);
    expect(run.code, run.screen).toBe(0);
    expect(run.screen).toMatch(/verify \|[█░]+\| \d+% \| \d+\/800005 records/);
    expect(run.screen).toMatch(/verified 800005 records in 2 stream\(s\): no damage/);
  });
});

describe("scripting", () => {
  it("prints the version, and exits 2 on bad usage", async () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    const version = await tidemark(["--version"]);
    expect(version).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    const unknown = await tidemark(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
    const badSeq = await tidemark(["read", "small", "--after", "x", "--dir", dir]);
    expect(badSeq.code).toBe(2);
  });

  it("prints errors as one line with the code, never a stack trace", async () => {
    const missing = await tidemark(["info", "nope", "--dir", dir]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^tidemark: .*\[NOT_FOUND\]\n$/);
    const noFile = await tidemark([
      "import",
      join(dir, "no-such-file.ndjson"),
      "--dir",
      tempDir("x"),
    ]);
    expect(noFile.code).toBe(1);
    expect(noFile.stderr).toMatch(
      /^tidemark: .*no-such-file\.ndjson does not exist \[NOT_FOUND\]\n$/,
    );
    expect(missing.stderr + noFile.stderr).not.toMatch(/\n\s+at /);
  });

  it("tail --limit stops after that many records", async () => {
    const tail = await tidemark(["tail", "small", "--limit", "2", "--dir", dir, "--json"], {
      timeoutMs: 30_000,
    });
    expect(tail.code).toBe(0);
    expect(
      tail.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).text),
    ).toEqual(["a", "b"]);
    const after = await tidemark(["tail", "small", "--after", "3", "--limit", "2", "--dir", dir]);
    expect(after.stdout).toMatch(/^4\t.*\td\n5\t.*\te\n$/);
  });

  it("demo without a directory uses a fresh one under the temp directory, never ./tidemark-data", async () => {
    const cwd = tempDir("demo-cwd");
    const demo = await new Promise<{ code: number; stdout: string }>((resolve) => {
      // Run from a directory outside the project: tsx is named by its path.
      const tsx = new URL("../../node_modules/tsx/dist/loader.mjs", import.meta.url).href;
      execFile(
        process.execPath,
        ["--import", tsx, MAIN, "demo"],
        { cwd, timeout: 60_000 },
        (error, stdout) => resolve({ code: error === null ? 0 : 1, stdout }),
      );
    });
    expect(demo.code).toBe(0);
    const at = /journal at (\S+):/.exec(demo.stdout)?.[1];
    expect(at).toMatch(/tidemark-demo-/);
    expect(existsSync(join(cwd, "tidemark-data"))).toBe(false);
    expect(demo.stdout).toMatch(/run this again with tidemark demo /);
    rmSync(at!, { recursive: true, force: true });
  });

  it("prints bash and zsh completion scripts, and completes commands and options", async () => {
    for (const shell of ["bash", "zsh"]) {
      const script = await tidemark(["complete", shell]);
      expect(script.code).toBe(0);
      expect(script.stdout).toMatch(/tidemark/);
      expect(script.stdout.length).toBeGreaterThan(200);
    }
    const commands = await tidemark(["complete", "--", "ex"]);
    expect(commands.stdout).toMatch(/^export\b/m);
    const options = await tidemark(["complete", "--", "export", "--fo"]);
    expect(options.stdout).toMatch(/--format/);
  });
});
