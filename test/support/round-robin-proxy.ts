/**
 * A tiny HTTP proxy on loopback that sends each request to the next of several backends in
 * turn, streaming bodies both ways (long-polls and SSE included). For tests that check several
 * tidemark processes serve the same streams as one: a client of the proxy sees every request
 * answered by a different process than the one before.
 */
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface RoundRobinProxy {
  url: string;
  /** Requests sent to each backend so far. */
  counts: number[];
  close(): Promise<void>;
}

/** `backends` is read at each request: it may be filled in once the proxy's URL is known. */
export async function startRoundRobinProxy(backends: string[]): Promise<RoundRobinProxy> {
  const counts = backends.map(() => 0);
  let next = 0;
  const server: Server = createServer((req, res) => {
    const index = next;
    next = (next + 1) % backends.length;
    counts[index]!++;
    const target = new URL(req.url ?? "/", backends[index]);
    const upstream = request(
      target,
      { method: req.method, headers: { ...req.headers, host: target.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    // The client went away before its answer was complete (a long-poll or SSE given up).
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
