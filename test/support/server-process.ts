/** `tidemark serve` as a real child process, for crash and shutdown tests. */
import { type Child, spawnChild } from "./child.js";

export interface ServerProcess {
  child: Child;
  url: string;
}

export async function startServerProcess(
  dir: string,
  extra: string[] = [],
): Promise<ServerProcess> {
  const child = spawnChild("serve.ts", [
    "serve",
    "--dir",
    dir,
    "--port",
    "0",
    "--log-level",
    "warn",
    ...extra,
  ]);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const match = /at (http:\/\/127\.0\.0\.1:\d+)\/v1\/stream\//.exec(child.stderr());
    if (match !== null) return { child, url: match[1]! };
    if (child.process.exitCode !== null || Date.now() > deadline) {
      throw new Error(`the server did not start: ${child.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
