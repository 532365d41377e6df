// An upstream that accepts every request at once (204), for bench/outbox.ts. Prints "listening".
import { createServer } from "node:http";

const port = Number(process.argv[2] ?? 0);
const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(204);
    res.end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
