/**
 * The HTTP load tools of the benchmarks (bench/http.ts, bench/http-jetstream.ts): appends by
 * many workers through one undici pool, answers read by raw dispatch handlers (cheaper for the
 * client, which shares the cores with the servers), and catch-up reads that follow
 * Stream-Next-Offset to the end.
 */
import type { Pool } from "undici";

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface LoadResult {
  appends: number;
  errors: number;
  /** Failed requests by status ("network" when there was no response). */
  failures: Record<string, number>;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/**
 * One POST whose answer is read through a raw undici dispatch handler: the load generator shares
 * the two cores with the server, and `pool.request` cost it about 10% more CPU per request
 * (measured here: 23.1–23.4k/s against 24.8–26.4k/s for the same server).
 */
export function post(pool: Pool, path: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    let status = 0;
    pool.dispatch(
      { path, method: "POST", headers: { "content-type": "application/octet-stream" }, body },
      {
        onConnect() {},
        onError: reject,
        onHeaders(statusCode) {
          status = statusCode;
          return true;
        },
        onData() {
          return true;
        },
        onComplete() {
          resolve(status);
        },
      },
    );
  });
}

/** `workers` loops posting `body` to the path `pathFor(i)` until `seconds` pass. */
export async function appendLoad(
  pool: Pool,
  workers: number,
  seconds: number,
  body: Buffer,
  pathFor: (i: number) => string,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const failures: Record<string, number> = {};
  const fail = (why: string) => {
    errors++;
    failures[why] = (failures[why] ?? 0) + 1;
  };
  let next = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < deadline) {
        const path = pathFor(next++);
        const sent = performance.now();
        try {
          const status = await post(pool, path, body);
          if (status === 200 || status === 204) {
            latencies.push(performance.now() - sent);
          } else fail(String(status));
        } catch (err) {
          fail((err as { code?: string }).code ?? "network");
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    appends: latencies.length,
    errors,
    failures,
    seconds: elapsed,
    perSecond: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

export async function create(pool: Pool, path: string, contentType: string): Promise<void> {
  const response = await pool.request({
    path,
    method: "PUT",
    headers: { "content-type": contentType },
  });
  await response.body.dump();
  if (response.statusCode !== 201 && response.statusCode !== 200) {
    throw new Error(`PUT ${path}: ${response.statusCode}`);
  }
}

/**
 * One GET whose body is counted, not kept: a raw undici dispatch handler, as a load tool would
 * read (a `for await` over the body costs the client more CPU than the servers spend, measured
 * here: 1.1 GB/s against 2.2 GB/s from a server that sends one buffer from memory).
 */
export function countedGet(
  pool: Pool,
  path: string,
): Promise<{ status: number; bytes: number; headers: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let bytes = 0;
    const headers: Record<string, string> = {};
    pool.dispatch(
      { path, method: "GET" },
      {
        onConnect() {},
        onError: reject,
        onHeaders(statusCode, raw) {
          status = statusCode;
          for (let i = 0; i + 1 < raw.length; i += 2) {
            headers[String(raw[i]).toLowerCase()] = String(raw[i + 1]);
          }
          return true;
        },
        onData(chunk) {
          bytes += chunk.length;
          return true;
        },
        onComplete() {
          resolve({ status, bytes, headers });
        },
      },
    );
  });
}

/** Reads a whole stream from the start, following Stream-Next-Offset; bytes/s. */
export async function catchUp(pool: Pool, path: string, expectedBytes: number) {
  let offset = "-1";
  let bytes = 0;
  let requests = 0;
  const started = performance.now();
  for (;;) {
    const response = await countedGet(pool, `${path}?offset=${offset}`);
    requests++;
    if (response.status !== 200) throw new Error(`GET ${path}: ${response.status}`);
    bytes += response.bytes;
    offset = response.headers["stream-next-offset"]!;
    if (response.headers["stream-up-to-date"] !== undefined) break;
  }
  const seconds = (performance.now() - started) / 1000;
  if (bytes !== expectedBytes) throw new Error(`catch-up read ${bytes} of ${expectedBytes} bytes`);
  return { bytes, requests, seconds, bytesPerSecond: bytes / seconds };
}
