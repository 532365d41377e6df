/**
 * The dashboard's files as the server serves them: `/` redirects to `/ui/`, the page carries a
 * content security policy that allows nothing from elsewhere, hashed assets are cached for good
 * and sent gzipped when the client takes it, and a server whose dashboard was not built says so
 * instead of failing.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../../../src/server/server.js";
import { memoryLogger } from "../../support/silent-logger.js";
import { tempDir } from "../../support/tmp-dir.js";

const running: RunningServer[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) await server.stop();
});

async function start(dashboardDir: string): Promise<RunningServer> {
  const server = await startServer({
    dir: tempDir("tidemark-assets"),
    port: 0,
    logger: memoryLogger(),
    dashboardDir,
  });
  running.push(server);
  return server;
}

describe("dashboard assets", () => {
  it("serves the built page at /ui/, its assets cached for good and gzipped", async () => {
    const dir = tempDir("tidemark-dist");
    mkdirSync(join(dir, "assets"));
    const script = `console.log(${JSON.stringify("x".repeat(2000))});\n`;
    writeFileSync(
      join(dir, "index.html"),
      '<!doctype html><script src="./assets/app-1a2b.js"></script>',
    );
    writeFileSync(join(dir, "assets", "app-1a2b.js"), script);
    const server = await start(dir);

    const root = await request(`${server.url}/`);
    expect(root.statusCode).toBe(302);
    expect(root.headers["location"]).toBe("/ui/");
    await root.body.dump();

    const page = await request(`${server.url}/ui/`);
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.headers["cache-control"]).toBe("no-cache");
    const csp = String(page.headers["content-security-policy"]);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(await page.body.text()).toContain("app-1a2b.js");

    const asset = await request(`${server.url}/ui/assets/app-1a2b.js`, {
      headers: { "accept-encoding": "gzip" },
    });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers["content-encoding"]).toBe("gzip");
    expect(asset.headers["cache-control"]).toContain("immutable");
    const zipped = Buffer.from(await asset.body.arrayBuffer());
    expect(zipped.byteLength).toBeLessThan(script.length / 4);
    expect(gunzipSync(zipped).toString()).toBe(script);

    const again = await request(`${server.url}/ui/assets/app-1a2b.js`, {
      headers: { "if-none-match": String(asset.headers["etag"]) },
    });
    expect(again.statusCode).toBe(304);
    await again.body.dump();
    const plain = await request(`${server.url}/ui/assets/app-1a2b.js`);
    expect(await plain.body.text()).toBe(script);

    for (const [method, path, status] of [
      ["GET", "/ui/assets/missing.js", 404],
      ["GET", "/ui/../package.json", 404],
      ["POST", "/ui/", 405],
    ] as const) {
      const res = await request(`${server.url}${path}`, { method });
      expect(res.statusCode, `${method} ${path}`).toBe(status);
      await res.body.dump();
    }
    // The protocol beside it is untouched.
    const put = await request(`${server.url}/v1/stream/ui`, {
      method: "PUT",
      headers: { "content-type": "text/plain" },
    });
    expect(put.statusCode).toBe(201);
    await put.body.dump();
  });

  it("says how to build the dashboard when it was not built", async () => {
    const server = await start(join(tempDir("tidemark-dist"), "missing"));
    const page = await request(`${server.url}/ui/`);
    expect(page.statusCode).toBe(200);
    expect(await page.body.text()).toContain("npm run build");
  });
});
