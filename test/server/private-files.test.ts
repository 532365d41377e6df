/**
 * Private by default: everything a fresh `tidemark serve` creates is the owner's alone (files
 * 0600, directories 0700), the webhook signing key exists only once a webhook subscription
 * needs it, and the CLI does not print an internal stream (such as that key) unless asked to.
 */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Journal } from "../../src/index.js";
import { startServerProcess } from "../support/server-process.js";
import { tempDir } from "../support/tmp-dir.js";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

function tidemark(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", MAIN, ...args],
      { timeout: 30_000 },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr }),
    );
  });
}

/** Every path under `root` (itself included) with its permission bits, as "0700 path". */
function modes(root: string): string[] {
  const out: string[] = [];
  const walk = (path: string) => {
    const stat = statSync(path);
    out.push(
      `${(stat.mode & 0o777).toString(8).padStart(4, "0")} ${path.slice(root.length) || "/"}`,
    );
    if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(root);
  return out;
}

/** The names of the streams in a journal directory, from their descriptors. */
function streamNames(dir: string): string[] {
  return readdirSync(join(dir, "streams")).map(
    (d) => JSON.parse(readFileSync(join(dir, "streams", d, "stream.json"), "utf8")).name,
  );
}

describe("private by default", () => {
  it("creates every directory 0700 and every file 0600, and the signing key only for a webhook", async () => {
    const dir = join(tempDir("tidemark-private"), "data");
    const server = await startServerProcess(dir);
    const stream = `${server.url}/v1/stream/agent/run-1`;
    const json = { "content-type": "application/json" };
    expect((await fetch(stream, { method: "PUT", headers: json })).status).toBe(201);
    expect((await fetch(stream, { method: "POST", headers: json, body: '{"n":1}' })).status).toBe(
      204,
    );
    expect((await fetch(`${stream}?offset=-1`)).status).toBe(200);
    // No webhook yet: no private key anywhere, and none published.
    expect(streamNames(dir)).not.toContain("__ds/keys");
    const before = await fetch(`${server.url}/v1/stream/__ds/jwks.json`);
    expect(await before.json()).toEqual({ keys: [] });

    const subscription = await fetch(`${server.url}/v1/stream/__ds/subscriptions/hook-1`, {
      method: "PUT",
      headers: json,
      body: JSON.stringify({
        type: "webhook",
        pattern: "agent/*",
        webhook: { url: "http://127.0.0.1:9/hook" },
      }),
    });
    expect(subscription.status).toBe(201);
    expect(streamNames(dir)).toContain("__ds/keys");
    const after = (await (await fetch(`${server.url}/v1/stream/__ds/jwks.json`)).json()) as {
      keys: unknown[];
    };
    expect(after.keys).toHaveLength(1);

    server.child.process.kill("SIGTERM");
    expect((await server.child.exited).code).toBe(0);
    const all = modes(dir);
    expect(all.length).toBeGreaterThan(10);
    const wrong = all.filter((line) => {
      const [mode, path] = line.split(" ");
      return statSync(join(dir, path!)).isDirectory() ? mode !== "0700" : mode !== "0600";
    });
    expect(wrong, all.join("\n")).toEqual([]);
  }, 60_000);

  it("widens to a group only when asked, and refuses modes that let others write", async () => {
    const dir = join(tempDir("tidemark-group"), "data");
    const journal = await Journal.open(dir, { fileMode: 0o640, dirMode: 0o750 });
    await (await journal.stream("s")).append("x");
    await journal.close();
    const found = new Set(modes(dir).map((line) => line.split(" ")[0]));
    expect([...found].sort()).toEqual(["0640", "0750"]);
    for (const options of [{ fileMode: 0o666 }, { fileMode: 0o400 }, { dirMode: 0o600 }]) {
      await expect(Journal.open(tempDir(), options)).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
      });
    }
  });

  it("does not print an internal stream from the CLI without --internal", async () => {
    const dir = tempDir("tidemark-internal");
    const journal = await Journal.open(dir);
    await (await journal.stream("__ds/keys")).append('{"kid":"k","pem":"PRIVATE"}');
    await (await journal.stream("open")).append("visible");
    await journal.close();
    const refused = await tidemark("read", "__ds/keys", "--dir", dir);
    expect(refused.code).toBe(2); // usage: README "Exit codes"
    expect(refused.stdout).not.toContain("PRIVATE");
    expect(refused.stderr).toMatch(/--internal.*\[INVALID_ARGUMENT\]/);
    const asked = await tidemark("read", "__ds/keys", "--internal", "--dir", dir);
    expect(asked.stdout).toContain("PRIVATE");
    expect((await tidemark("read", "open", "--dir", dir)).stdout).toContain("visible");
  }, 60_000);
});
