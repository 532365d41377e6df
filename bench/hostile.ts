/**
 * `npm run bench:hostile`: `tidemark serve` (built, a child process, default limits) under
 * request bodies meant to exhaust it, while this process samples the server's resident memory
 * (every 10 ms, /proc/<pid>/status) and asks `/healthz` over and over (one request at a time,
 * on its own connection pool) to see how long another client waits.
 *
 * Cases (issue 14, item 5):
 * - 8 concurrent 16 MB JSON bodies of tiny elements (`[[],[],…]`, 5.3M elements each);
 * - 8 concurrent 16 MB JSON bodies of 100,000 elements of about 160 bytes (as many messages as
 *   one append may hold): these are appended;
 * - 8 concurrent 16 MB byte bodies;
 * - 30 connections that announce 16 MB and send nothing more (answered 408 after
 *   bodyIdleTimeoutMs, 10 s).
 *
 * Prints a table and writes bench/results/hostile-<time>.json.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool } from "undici";
import { saveResults, table } from "./lib.js";

const MB = 1_000_000;
const root = mkdtempSync(join(tmpdir(), "tidemark-bench-hostile-"));

function rssOf(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

interface Server {
  child: ChildProcess;
  url: string;
  /** The longest event-loop delay in the server since the last call (serve-loop-delay.mjs). */
  loopDelayMaxMs(): Promise<number>;
}

async function startServer(): Promise<Server> {
  const dir = mkdtempSync(join(root, "server-"));
  const child = spawn(
    process.execPath,
    [
      "bench/children/serve-loop-delay.mjs",
      "serve",
      "--dir",
      dir,
      "--port",
      "0",
      "--log-level",
      "warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const loopDelayMaxMs = async () => {
    const seen = output.length;
    child.kill("SIGUSR2");
    for (;;) {
      const match = /loop-delay-max-ms (\d+)\n/.exec(output.slice(seen));
      if (match !== null) return Number(match[1]);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const match = /(http:\/\/127\.0\.0\.1:\d+)/.exec(output);
    if (match !== null) return { child, url: match[1]!, loopDelayMaxMs };
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(output);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Sample {
  loopDelayMaxMs: number;
  rssMaxMB: number;
  healthzMaxMs: number;
  healthzP99Ms: number;
  healthzCount: number;
}

/**
 * Asks /healthz one request at a time, from a process of its own (so the load this process
 * generates cannot delay the probe), until told to stop on stdin; then prints the latencies.
 */
const PROBER = `
  const url = process.argv[1];
  const latencies = [];
  let running = true;
  process.stdin.on("data", () => { running = false; });
  (async () => {
    await (await fetch(url + "/healthz")).arrayBuffer(); // warm: connection and JIT
    process.stdout.write("ready\\n");
    while (running) {
      const started = performance.now();
      const response = await fetch(url + "/healthz");
      await response.arrayBuffer();
      latencies.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    process.stdout.write(JSON.stringify(latencies));
  })();
`;

/** Samples memory and /healthz latency until `stop` is called. */
async function watch(server: Server): Promise<{ stop(): Promise<Sample> }> {
  const pid = server.child.pid!;
  const url = server.url;
  await server.loopDelayMaxMs(); // starts the window
  let rssMax = rssOf(pid);
  const timer = setInterval(() => {
    rssMax = Math.max(rssMax, rssOf(pid));
  }, 10);
  const prober = spawn(process.execPath, ["-e", PROBER, url], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let output = "";
  prober.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise((resolve) => prober.once("exit", resolve));
  while (!output.startsWith("ready\n")) {
    if (prober.exitCode !== null) throw new Error("the /healthz prober exited before it was ready");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return {
    async stop() {
      prober.stdin.end("stop\n");
      await exited;
      clearInterval(timer);
      const sorted = (JSON.parse(output.slice("ready\n".length)) as number[]).sort((a, b) => a - b);
      return {
        loopDelayMaxMs: await server.loopDelayMaxMs(),
        rssMaxMB: Math.round(rssMax / 2 ** 20),
        healthzMaxMs: Math.round(sorted.at(-1) ?? 0),
        healthzP99Ms: Math.round(sorted[Math.floor(sorted.length * 0.99)] ?? 0),
        healthzCount: sorted.length,
      };
    },
  };
}

/** 16 MB bodies; each POSTed by its own connection, all at once. */
async function concurrentPosts(url: string, path: string, type: string, bodies: Buffer[]) {
  const statuses: number[] = [];
  await Promise.all(
    bodies.map(async (body) => {
      const pool = new Pool(url, { connections: 1 });
      try {
        const response = await pool.request({
          path,
          method: "POST",
          headers: { "content-type": type },
          body,
        });
        await response.body.text();
        statuses.push(response.statusCode);
      } catch {
        statuses.push(0); // the server closed the connection after answering early
      } finally {
        await pool.close();
      }
    }),
  );
  return statuses.sort();
}

function tinyElements(bytes: number): Buffer {
  const count = Math.floor((bytes - 2) / 3);
  return Buffer.from(`[${Array.from({ length: count }, () => "[]").join(",")}]`);
}

/** `count` objects `{"i":…,"t":"xx…"}`, padded so the array is about `bytes` long. */
function eventElements(count: number, bytes: number): Buffer {
  const size = Math.floor(bytes / count) - 1; // each element and its comma
  const items = Array.from({ length: count }, (_, i) => {
    const head = `{"i":${i},"t":"`;
    return `${head}${"x".repeat(Math.max(0, size - head.length - 2))}"}`;
  });
  return Buffer.from(`[${items.join(",")}]`);
}

/** `count` connections that announce `length` bytes, send nothing more, and wait. */
async function stalledConnections(url: string, count: number, length: number) {
  const { port } = new URL(url);
  const statuses: number[] = [];
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve) => {
          const socket = connect(Number(port), "127.0.0.1");
          let received = "";
          socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
          socket.on("error", () => undefined);
          socket.on("close", () => {
            statuses.push(Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0));
            resolve();
          });
          socket.write(
            `POST /v1/stream/j HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n\r\n[`,
          );
        }),
    ),
  );
  return statuses.sort();
}

async function run() {
  const server = await startServer();
  const { child, url } = server;
  try {
    for (const [path, type] of [
      ["/v1/stream/j", "application/json"],
      ["/v1/stream/b", "application/octet-stream"],
    ] as const) {
      await fetch(`${url}${path}`, { method: "PUT", headers: { "content-type": type } });
    }
    const results: Record<string, Sample & { statuses: string; seconds: number }> = {};
    const idle = await watch(server);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    results["idle (1 s)"] = { ...(await idle.stop()), statuses: "", seconds: 1 };
    const cases: Array<[string, () => Promise<number[]>]> = [
      [
        "8 × 16 MB JSON, tiny elements (5.3M each)",
        () =>
          concurrentPosts(
            url,
            "/v1/stream/j",
            "application/json",
            Array(8).fill(tinyElements(16 * MB)),
          ),
      ],
      [
        "8 × 16 MB JSON, 100,000 elements of 160 B",
        () =>
          concurrentPosts(
            url,
            "/v1/stream/j",
            "application/json",
            Array(8).fill(eventElements(100_000, 16 * MB)),
          ),
      ],
      [
        "8 × 16 MB bytes",
        () =>
          concurrentPosts(
            url,
            "/v1/stream/b",
            "application/octet-stream",
            Array(8).fill(Buffer.alloc(16 * MB, 7)),
          ),
      ],
      ["30 connections announcing 16 MB, then silent", () => stalledConnections(url, 30, 16 * MB)],
    ];
    for (const [name, load] of cases) {
      const watcher = await watch(server);
      const started = performance.now();
      const statuses = await load();
      const seconds = (performance.now() - started) / 1000;
      const sample = await watcher.stop();
      const counts = new Map<number, number>();
      for (const status of statuses) counts.set(status, (counts.get(status) ?? 0) + 1);
      results[name] = {
        ...sample,
        statuses: [...counts].map(([status, n]) => `${n}× ${status}`).join(", "),
        seconds: Math.round(seconds * 10) / 10,
      };
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    console.log(
      table(
        [
          "case",
          "answers",
          "s",
          "server RSS max (MB)",
          "event loop blocked max (ms)",
          "/healthz max (ms)",
          "/healthz p99 (ms)",
          "probes",
        ],
        Object.entries(results).map(([name, r]) => [
          name,
          r.statuses,
          String(r.seconds),
          String(r.rssMaxMB),
          String(r.loopDelayMaxMs),
          String(r.healthzMaxMs),
          String(r.healthzP99Ms),
          String(r.healthzCount),
        ]),
      ),
    );
    saveResults("hostile", results);
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    rmSync(root, { recursive: true, force: true });
  }
}

await run();
