/**
 * The child processes of the JetStream benchmarks (bench/jetstream.ts, bench/http-jetstream.ts):
 * a nats-server with `jetstream { sync_interval: always }` (the binary from
 * scripts/nats-server.sh), `tidemark serve` with or without `--nats`, and the HTTP ceiling (a
 * server that answers 204 and keeps nothing); and a closed-loop load of async tasks.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { freePort } from "./lib.js";

/** nats-server in `root`; `syncAlways` (default) fsyncs every stored message. */
export async function startNats(
  root: string,
  { syncAlways = true }: { syncAlways?: boolean } = {},
): Promise<{ url: string; child: ChildProcess }> {
  const binary = execFileSync("bash", ["scripts/nats-server.sh"], { encoding: "utf8" }).trim();
  const port = await freePort();
  const store = join(root, "nats");
  mkdirSync(store);
  const config = join(root, "nats.conf");
  writeFileSync(
    config,
    `listen: 127.0.0.1:${port}\njetstream {\n  store_dir: "${store}"\n${syncAlways ? "  sync_interval: always\n" : ""}}\n`,
  );
  const child = spawn(binary, ["-c", config], { stdio: ["ignore", "ignore", "pipe"] });
  const url = `nats://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
    try {
      const nc = await connect({ servers: url });
      await nc.close();
      return { url, child };
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error("nats-server did not start");
}

export async function startTidemark(
  root: string,
  nats: string | undefined,
  dir: string,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ["dist/cli/main.js", "serve", "--dir", join(root, dir)]
      .concat(["--port", "0", "--log-level", "error"])
      .concat(nats === undefined ? [] : ["--nats", nats]),
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let output = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    const match = /at (http:\/\/127\.0\.0\.1:\d+)\/v1\/stream\//.exec(output);
    if (match !== null) return { url: match[1]!, child };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`tidemark did not start: ${output}`);
}

/** The HTTP ceiling: bench/children/accept-all.mjs, a server that answers 204 and keeps nothing. */
export async function startAcceptAll(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ["bench/children/accept-all.mjs"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<string>((resolve, reject) => {
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening (\d+)/.exec(output);
      if (match !== null) resolve(match[1]!);
    });
    child.once("exit", () => reject(new Error("accept-all.mjs exited")));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

/** Runs `workers` loops of `task` for `seconds`; returns completed tasks per second. */
export async function loadFor(
  seconds: number,
  workers: number,
  task: () => Promise<void>,
): Promise<number> {
  let done = 0;
  const until = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < until) {
        await task();
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}
