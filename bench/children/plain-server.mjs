// The ceiling for catch-up reads: a plain Node HTTP server that answers GET /?bytes=N with N
// bytes sent from memory in 1 MiB writes (with backpressure), nothing read from disk, nothing
// decoded. Prints its URL. For bench/http.ts.
import { createServer } from "node:http";

const chunk = Buffer.alloc(1024 * 1024, 0x79);
const server = createServer(async (req, res) => {
  const bytes = Number(new URL(req.url, "http://x").searchParams.get("bytes") ?? 0);
  res.writeHead(200, { "content-type": "application/octet-stream" });
  for (let sent = 0; sent < bytes; sent += chunk.byteLength) {
    const part = bytes - sent >= chunk.byteLength ? chunk : chunk.subarray(0, bytes - sent);
    if (!res.write(part)) await new Promise((resolve) => res.once("drain", resolve));
  }
  res.end();
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`);
});
