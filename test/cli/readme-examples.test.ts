/**
 * The README's command-line examples run as written: the block between `cli-examples:start`
 * and `cli-examples:end` is run by bash with `set -e` from the project root, `tidemark` being
 * the built command (compiled here into .tmp/, so a stale dist/ cannot hide a failure).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));

function examples(): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const block = readme.slice(
    readme.indexOf("<!-- cli-examples:start -->"),
    readme.indexOf("<!-- cli-examples:end -->"),
  );
  return block.slice(block.indexOf("```sh") + 5, block.lastIndexOf("```"));
}

describe("README command-line examples", () => {
  it("run as written", () => {
    const build = join(root, ".tmp", "readme");
    mkdirSync(build, { recursive: true });
    copyFileSync(join(root, "package.json"), join(build, "package.json"));
    execFileSync(
      join(root, "node_modules/.bin/tsc"),
      ["-p", "tsconfig.build.json", "--outDir", join(build, "dist")],
      { cwd: root },
    );
    const bin = join(build, "bin");
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      join(bin, "tidemark"),
      `#!/bin/sh\nexec "${process.execPath}" "${join(build, "dist", "cli", "main.js")}" "$@"\n`,
      { mode: 0o755 },
    );
    const script = examples();
    expect(script).toMatch(/tidemark export --all/);
    const run = spawnSync("bash", ["-e", "-c", script], {
      cwd: root,
      env: {
        ...process.env,
        PATH: `${bin}:${process.env["PATH"]}`,
        TIDEMARK_URL: "",
        TIDEMARK_TOKEN: "",
      },
      encoding: "utf8",
      timeout: 300_000,
    });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toMatch(/imported ledger: 8 records/);
    expect(run.stdout).toMatch(/repaired|nothing to repair/);
  }, 360_000);
});
