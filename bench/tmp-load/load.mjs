import { Pool } from "undici";

const url = process.argv[2];
const seconds = Number(process.argv[3] ?? 8);
const conc = Number(process.argv[4] ?? 75);
const pool = new Pool(url, { connections: conc });
const BODY = Buffer.alloc(100, 97);
const put = await pool.request({
  path: "/v1/stream/bench",
  method: "PUT",
  headers: { "content-type": "application/octet-stream" },
});
await put.body.dump();
let done = 0;
const until = performance.now() + seconds * 1000;
const t0 = performance.now();
const lat = [];
await Promise.all(
  Array.from({ length: conc }, async () => {
    while (performance.now() < until) {
      const s = performance.now();
      const r = await pool.request({
        path: "/v1/stream/bench",
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: BODY,
      });
      await r.body.dump();
      done++;
      lat.push(performance.now() - s);
    }
  }),
);
lat.sort((a, b) => a - b);
console.log(
  "rate",
  Math.round(done / ((performance.now() - t0) / 1000)),
  "p50",
  lat[lat.length >> 1].toFixed(1),
  "p99",
  lat[Math.floor(lat.length * 0.99)].toFixed(1),
  "cpu",
  JSON.stringify(process.cpuUsage()),
);
await pool.close();
