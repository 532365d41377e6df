/**
 * The CLI as a new user meets it: `ls` where there is no journal says how to name one, `demo`
 * shows the files it made, and `ls` keeps its columns in line with wide (CJK) names.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import stringWidth from "string-width";
import { describe, expect, it } from "vitest";
import { Journal } from "../../src/index.js";
import { tempDir } from "../support/tmp-dir.js";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
/** tsx, resolved here: the command runs in other directories. */
const TSX = import.meta.resolve("tsx");

function withoutDirVariable(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env["TIDEMARK_DIR"];
  return env;
}

function tidemark(cwd: string, ...args: string[]) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ["--import", TSX, MAIN, ...args],
      { cwd, timeout: 30_000, env: withoutDirVariable() },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr }),
    );
  });
}

describe("the CLI on a first run", () => {
  it("ls where there is no journal says to name it with --dir or TIDEMARK_DIR", async () => {
    const result = await tidemark(tempDir(), "ls");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /no journal at .*tidemark-data; name the journal's directory with --dir <dir> or TIDEMARK_DIR .*\[NOT_FOUND\]/,
    );
  }, 60_000);

  it("demo shows the files it made", async () => {
    const dir = join(tempDir(), "demo");
    const result = await tidemark(tempDir(), "demo", dir);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^ {2}tidemark\.json {2}\d+ bytes$/m);
    expect(result.stdout).toMatch(
      /^ {2}streams\/demo_session-1-[0-9a-f]{32}\/00000000000000000001\.seg {2}\d+ bytes$/m,
    );
  }, 60_000);

  it("ls keeps its columns in line with CJK stream names", async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir);
    await (await journal.stream("日本語/セッション")).append("x");
    await (await journal.stream("ascii/session")).appendMany(["a", "b"]);
    await journal.close();
    const result = await tidemark(dir, "ls", "--dir", dir);
    expect(result.code, result.stderr).toBe(0);
    const rows = result.stdout.split("\n").filter((line) => /^(stream|日本語|ascii)/.test(line));
    expect(rows).toHaveLength(3);
    // The records column starts at the same terminal column on every row.
    const startOfSecond = (line: string) => {
      const match = /^(.*?\S {2,})\S/.exec(line);
      return match === null ? -1 : stringWidth(match[1]!);
    };
    expect(new Set(rows.map(startOfSecond)).size).toBe(1);
  }, 60_000);
});
