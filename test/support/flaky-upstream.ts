/**
 * A real HTTP upstream for outbox tests that misbehaves on purpose. It applies a request at most
 * once per Idempotency-Key (a repeat gets the first answer again, as real idempotent APIs do),
 * keeps what it applied in an append-only file (so it survives its own restarts and SIGKILL),
 * and, driven by a seeded random generator:
 * - drops connections without answering;
 * - answers bursts of 503 and of 429 (with Retry-After);
 * - is slow (longer than the client's timeout, sometimes);
 * - applies a request and then loses the answer (the connection is destroyed after the write).
 * `/items/<id>` carries an ETag: a PUT with a stale If-Match gets 412 with the current one.
 * A body containing REJECT gets 400 (a permanent rejection).
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

export interface Chaos {
  drop: number;
  burst503: number;
  burst429: number;
  slow: number;
  slowMs: number;
  lostAnswer: number;
}

export const CALM: Chaos = { drop: 0, burst503: 0, burst429: 0, slow: 0, slowMs: 0, lostAnswer: 0 };

export interface AppliedRequest {
  key: string;
  method: string;
  path: string;
  body: string;
  at: number;
}

export interface FlakyUpstream {
  url: string;
  port: number;
  server: Server;
  /** Requests received, answered or not. */
  requests: number;
  /** Each request as received: when, and its Idempotency-Key. */
  log: Array<{ at: number; key: string | undefined; path: string }>;
  chaos: Chaos;
  stop(): Promise<void>;
}

export function readApplied(dir: string): AppliedRequest[] {
  const file = join(dir, "applied.jsonl");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.length > 0)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as AppliedRequest];
      } catch {
        return []; // a line cut by SIGKILL was never answered as applied
      }
    });
}

function rng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

export async function startFlakyUpstream(options: {
  dir: string;
  port?: number;
  seed?: number;
  chaos?: Chaos;
}): Promise<FlakyUpstream> {
  const random = rng(options.seed ?? 1);
  const file = join(options.dir, "applied.jsonl");
  // Answers by Idempotency-Key, rebuilt from the file: a restart forgets nothing applied.
  const answers = new Map<string, { status: number; etag: string }>();
  const etags = new Map<string, number>();
  for (const applied of readApplied(options.dir)) {
    answers.set(applied.key, { status: 200, etag: `"${applied.at}"` });
    if (applied.path.startsWith("/items/"))
      etags.set(applied.path, (etags.get(applied.path) ?? 0) + 1);
  }
  let burst = 0;
  let burstStatus = 503;
  const upstream: FlakyUpstream = {
    url: "",
    port: 0,
    server: undefined as unknown as Server,
    requests: 0,
    log: [],
    chaos: options.chaos ?? CALM,
    stop: async () => {
      upstream.server.closeAllConnections();
      await new Promise((resolve) => upstream.server.close(resolve));
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, body: string) => {
    const chaos = upstream.chaos;
    const key = req.headers["idempotency-key"] as string | undefined;
    const path = req.url ?? "/";
    upstream.requests++;
    upstream.log.push({ at: Date.now(), key, path });
    if (random() < chaos.drop) return req.socket.destroy();
    if (burst === 0 && random() < chaos.burst503) {
      burst = 1 + Math.floor(random() * 5);
      burstStatus = 503;
    } else if (burst === 0 && random() < chaos.burst429) {
      burst = 1 + Math.floor(random() * 3);
      burstStatus = 429;
    }
    if (burst > 0) {
      burst--;
      res.writeHead(burstStatus, burstStatus === 429 ? { "retry-after": "0" } : {});
      return res.end(burstStatus === 429 ? "slow down" : "unavailable");
    }
    if (random() < chaos.slow) await new Promise((resolve) => setTimeout(resolve, chaos.slowMs));
    if (key === undefined) {
      res.writeHead(400);
      return res.end("an Idempotency-Key is required");
    }
    const before = answers.get(key);
    if (before !== undefined) {
      res.writeHead(before.status, { etag: before.etag, "idempotent-replay": "true" });
      return res.end();
    }
    if (body.includes("REJECT")) {
      res.writeHead(400, { "content-type": "text/plain" });
      return res.end("rejected: the body is not acceptable");
    }
    if (path.startsWith("/items/")) {
      const version = etags.get(path) ?? 0;
      const current = `"v${version}"`;
      const ifMatch = req.headers["if-match"];
      if (ifMatch !== undefined && ifMatch !== current) {
        res.writeHead(412, { etag: current, "content-type": "text/plain" });
        return res.end(`stale: the item is at ${current}`);
      }
      etags.set(path, version + 1);
    }
    const applied: AppliedRequest = { key, method: req.method ?? "", path, body, at: Date.now() };
    appendFileSync(file, `${JSON.stringify(applied)}\n`);
    const etag = path.startsWith("/items/") ? `"v${etags.get(path)}"` : `"${applied.at}"`;
    answers.set(key, { status: 200, etag });
    if (random() < chaos.lostAnswer) return req.socket.destroy(); // applied, answer lost
    res.writeHead(200, { etag });
    res.end();
  };

  upstream.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      handle(req, res, Buffer.concat(chunks).toString("utf8")).catch(() => req.socket.destroy());
    });
  });
  await new Promise<void>((resolve) =>
    upstream.server.listen(options.port ?? 0, "127.0.0.1", resolve),
  );
  upstream.port = (upstream.server.address() as AddressInfo).port;
  upstream.url = `http://127.0.0.1:${upstream.port}`;
  return upstream;
}
