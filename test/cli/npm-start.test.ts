/**
 * `npm start` as an operator runs it: stopping npm (SIGTERM to npm's pid, as a service manager or
 * `kill` does) stops the server with it, which releases the journal. A server left running by a
 * shell between npm and node would keep the journal locked.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Journal } from "../../src/index.js";
import { tempDir } from "../support/tmp-dir.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Processes whose command line mentions `text` (a server left behind), killed. */
function killLeftovers(text: string): number {
  let killed = 0;
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(text)) {
        process.kill(Number(pid), "SIGKILL");
        killed++;
      }
    } catch {
      // gone already
    }
  }
  return killed;
}

describe("npm start", () => {
  it("stops the server when npm is stopped", async () => {
    const dir = tempDir("tidemark-npm-start");
    const npm = spawn("npm", ["start", "--", "--port", "0", "--dir", dir], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    npm.stderr!.setEncoding("utf8");
    const serving = new Promise<void>((resolve, reject) => {
      npm.stderr!.on("data", (chunk: string) => {
        stderr += chunk;
        if (stderr.includes("tidemark: serving")) resolve();
      });
      npm.once("exit", () => reject(new Error(`npm start exited: ${stderr}`)));
    });
    const exited = new Promise<number | null>((resolve) => npm.once("exit", resolve));
    try {
      await serving;
      npm.kill("SIGTERM");
      await exited;
      // The server is gone with npm: the journal opens for writing at once.
      const journal = await Journal.open(dir);
      await journal.close();
    } finally {
      expect(killLeftovers(dir), "a server outlived npm").toBe(0);
    }
  }, 90_000);
});
