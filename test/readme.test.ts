/**
 * Every example in README.md runs as written: each `sh` block runs in bash (errors stop it, an
 * HTTP error fails its curl) against a fresh `tidemark serve`, each `ts` block runs as a program
 * in a fresh directory, each `json` block is a config the server starts with. A block that cannot
 * run here (it installs, benchmarks, or needs a remote upstream) says so on the line before it:
 *
 *   <!-- readme-test: skip: <why> -->
 *
 * (the command-line tour, between `<!-- cli-examples:start -->` and its end, is run by
 * test/cli/readme-examples.test.ts) and the list of those stays short. What the test changes, and only that: the server's port in
 * URLs, `npx tidemark` runs this checkout's command, `from "tidemark"` imports this checkout's
 * src/index.ts, and a config's placeholders (secrets, a system directory, a public address)
 * become values that work in a test.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { natsServerBinary } from "./support/nats.js";
import { type ServerProcess, startServerProcess } from "./support/server-process.js";
import { tempDir } from "./support/tmp-dir.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const README = readFileSync(join(ROOT, "README.md"), "utf8");
/** Blocks run from inside the checkout, so that their imports (pino…) resolve. */
const SCRATCH = join(ROOT, ".tmp", `readme-${process.pid}`);
const SKIPPED_MAX = 7;
/** The skip reason of the command-line tour, which another test runs. */
const RUN_ELSEWHERE = "run by test/cli/readme-examples.test.ts";

interface Block {
  lang: string;
  code: string;
  line: number;
  skip: string | undefined;
}

function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (open === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== "```"; i++) body.push(lines[i]!);
    const before = lines[start - 1] ?? "";
    const marker = /^<!-- readme-test: skip: (.+) -->$/.exec(before);
    // The command-line tour is run by test/cli/readme-examples.test.ts, `tidemark` defined.
    const skip = before === "<!-- cli-examples:start -->" ? RUN_ELSEWHERE : marker?.[1];
    blocks.push({ lang: open[1]!, code: body.join("\n"), line: start + 1, skip });
  }
  return blocks;
}

function run(
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, timeout: 60_000, env: { ...process.env, ...env } },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr }),
    );
  });
}

const blocks = codeBlocks(README);
const runnable = blocks.filter((b) => ["sh", "ts", "json"].includes(b.lang));

describe("README examples", () => {
  let server: ServerProcess;
  let bin: string;
  beforeAll(async () => {
    mkdirSync(SCRATCH, { recursive: true });
    const config = join(tempDir(), "config.json");
    // SSE responses end after a second here (60 s by default): the example's curl returns.
    writeFileSync(config, JSON.stringify({ sseLifetimeMs: 1000 }));
    server = await startServerProcess(join(tempDir(), "data"), ["--config", config]);
    // `npx tidemark …` as a user of the package runs it: this checkout's command.
    bin = join(tempDir(), "bin");
    mkdirSync(bin);
    const main = join(ROOT, "src/cli/main.ts");
    writeFileSync(
      join(bin, "npx"),
      `#!/bin/sh\nif [ "$1" = tidemark ]; then shift; exec "${process.execPath}" --import tsx "${main}" "$@"; fi\nexec "${process.execPath}" "$(command -v npm | xargs dirname)/npx" "$@"\n`,
    );
    chmodSync(join(bin, "npx"), 0o755);
    // The JetStream example runs `nats-server` from PATH, as a user who installed it would.
    symlinkSync(natsServerBinary(), join(bin, "nats-server"));
  }, 60_000);
  afterAll(async () => {
    server?.child.process.kill("SIGTERM");
    await server?.child.exited;
    rmSync(SCRATCH, { recursive: true, force: true });
  });

  it("marks only a few blocks as not runnable, each with a reason", () => {
    const skipped = runnable.filter((b) => b.skip !== undefined && b.skip !== RUN_ELSEWHERE);
    expect(
      skipped.length,
      skipped.map((b) => `line ${b.line}: ${b.skip}`).join("\n"),
    ).toBeLessThanOrEqual(SKIPPED_MAX);
    expect(runnable.filter((b) => b.skip === undefined).length).toBeGreaterThanOrEqual(6);
  });

  for (const block of runnable.filter((b) => b.skip === undefined)) {
    it(`${block.lang} block at README.md line ${block.line} runs`, async () => {
      const dir = join(SCRATCH, `line-${block.line}`);
      mkdirSync(dir, { recursive: true });
      const url = new URL(server.url);
      if (block.lang === "sh") {
        const script = [
          "set -euo pipefail",
          // An HTTP error answer fails the example, as a changed route or header would.
          'curl() { command curl --silent --show-error --fail-with-body "$@"; echo; }',
          block.code.replaceAll("127.0.0.1:4437", url.host),
        ].join("\n");
        const result = await run("bash", ["-c", script], dir, {
          PATH: `${bin}:${process.env["PATH"]}`,
        });
        expect(result.code, `${result.stderr}\n${result.stdout}`).toBe(0);
        expect(result.stderr).not.toMatch(/\[[A-Z_]+\]/); // no tidemark error line
      } else if (block.lang === "ts") {
        const source = block.code.replaceAll(
          /from "tidemark"/g,
          `from ${JSON.stringify(join(ROOT, "src/index.ts"))}`,
        );
        const file = join(dir, "example.ts");
        writeFileSync(file, source);
        const result = await run(process.execPath, ["--import", "tsx", file], dir);
        expect(result.code, `exit ${result.code}\n${result.stderr}\n${result.stdout}`).toBe(0);
      } else {
        const config = JSON.parse(block.code) as Record<string, unknown>;
        const text = JSON.stringify(config)
          .replaceAll('"<32+ random characters>"', () =>
            JSON.stringify(randomBytes(24).toString("hex")),
          )
          .replaceAll('"/var/lib/tidemark"', JSON.stringify(join(dir, "data")))
          .replaceAll('"0.0.0.0"', '"127.0.0.1"');
        const file = join(dir, "config.json");
        writeFileSync(file, text);
        const started = await startServerProcess(join(dir, "data"), ["--config", file]);
        started.child.process.kill("SIGTERM");
        expect((await started.child.exited).code).toBe(0);
      }
    }, 90_000);
  }
});
