/**
 * Real nats-server processes on loopback for the JetStream tests: one server, or a cluster of
 * three, each with its own store directory, started from the binary scripts/nats-server.sh
 * finds (fetching Debian's package once if there is none). Every server a test file starts is
 * killed when the file ends, so a failed test leaves no process behind. `kill()` is SIGKILL
 * (the fault tests); `restart()` starts the same server again on the same port and store.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll } from "vitest";
import { freePort } from "./free-port.js";
import { tempDir } from "./tmp-dir.js";

const SCRIPT = fileURLToPath(new URL("../../scripts/nats-server.sh", import.meta.url));
const READY_TIMEOUT_MS = 60_000;

let binary: string | undefined;

/** The nats-server binary (2.11 or later); fetched into .cache/nats on first use. */
export function natsServerBinary(): string {
  binary ??= execFileSync("bash", [SCRIPT], { encoding: "utf8", timeout: 300_000 }).trim();
  return binary;
}

export interface NatsServerOptions {
  /** `jetstream { sync_interval: always }`: fsync before every acknowledgement. */
  syncAlways?: boolean;
  /** Largest message the server takes (bytes; nats-server's default is 1 MiB). */
  maxPayload?: number;
  /** The cluster this server belongs to (see startNatsCluster). */
  cluster?: { name: string; port: number; routes: number[] };
  serverName?: string;
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly pid: number | undefined;
  /** SIGKILL, and wait for the process to be gone. */
  kill(): Promise<void>;
  /** SIGTERM (SIGKILL after 10 s), and wait. */
  stop(): Promise<void>;
  /** The same server again: same port, same store. */
  restart(): Promise<void>;
}

const live = new Set<ChildProcess>();
afterAll(() => {
  for (const child of live) child.kill("SIGKILL");
  live.clear();
});

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const dir = tempDir("tidemark-nats");
  const port = await freePort();
  const store = join(dir, "store");
  mkdirSync(store, { recursive: true });
  const lines = [
    `listen: 127.0.0.1:${port}`,
    ...(options.serverName === undefined ? [] : [`server_name: ${options.serverName}`]),
    ...(options.maxPayload === undefined ? [] : [`max_payload: ${options.maxPayload}`]),
    "jetstream {",
    `  store_dir: "${store}"`,
    ...(options.syncAlways === true ? ["  sync_interval: always"] : []),
    "}",
  ];
  if (options.cluster !== undefined) {
    const { name, port: clusterPort, routes } = options.cluster;
    lines.push(
      "cluster {",
      `  name: ${name}`,
      `  listen: 127.0.0.1:${clusterPort}`,
      `  routes: [${routes.map((p) => `"nats-route://127.0.0.1:${p}"`).join(", ")}]`,
      "}",
    );
  }
  const config = join(dir, "server.conf");
  writeFileSync(config, `${lines.join("\n")}\n`);
  const log = join(dir, "server.log");
  let child: ChildProcess | undefined;
  let readyLines = 0;

  const launch = async () => {
    const fd = openSync(log, "a");
    child = spawn(natsServerBinary(), ["-c", config], { stdio: ["ignore", fd, fd] });
    closeSync(fd);
    const started = child;
    live.add(started);
    started.once("exit", () => live.delete(started));
    readyLines += 1;
    // A cluster member is ready once it has started JetStream; it may wait for its peers.
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (started.exitCode !== null) {
        throw new Error(`nats-server exited: ${readFileSync(log, "utf8").slice(-2000)}`);
      }
      const text = readFileSync(log, "utf8");
      if ((text.match(/Server is ready/g) ?? []).length >= readyLines) return;
      if (Date.now() > deadline) throw new Error(`nats-server not ready: ${text.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const exit = async (signal: NodeJS.Signals) => {
    const running = child;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill(signal);
    const force = setTimeout(() => running.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(force);
  };

  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return child?.pid;
    },
    kill: () => exit("SIGKILL"),
    stop: () => exit("SIGTERM"),
    restart: launch,
  };
}

/** Three servers clustered on loopback (JetStream replicas up to 3). */
export async function startNatsCluster(
  options: Omit<NatsServerOptions, "cluster" | "serverName"> = {},
): Promise<NatsServer[]> {
  const routes = [await freePort(), await freePort(), await freePort()];
  const name = `tidemark-test-${process.pid}`;
  return Promise.all(
    routes.map((port, i) =>
      startNatsServer({
        ...options,
        serverName: `n${i + 1}`,
        cluster: { name, port, routes: routes.filter((p) => p !== port) },
      }),
    ),
  );
}
