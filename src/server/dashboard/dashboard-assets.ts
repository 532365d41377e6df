/**
 * The dashboard's files (built by `npm run build` into dist/dashboard, shipped in the package),
 * served at `/ui/` with `/` redirecting there. They are read once at startup, with a gzip copy
 * each, so a request never touches the disk; a few hundred KB at most. Vite names the scripts
 * and styles after their content (`assets/index-3f2a….js`), so those are cached for good and
 * only index.html is revalidated. The page itself holds no secrets and needs no token: every
 * figure it shows comes from the admin API, which checks the token.
 */
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { send } from "../context.js";

export const DASHBOARD_PREFIX = "/ui/";
/** dist/dashboard beside this file's package root (src/ and dist/ are both one level down). */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(
  new URL("../../../dist/dashboard/", import.meta.url),
);
const FILES_MAX = 200;
const FILE_BYTES_MAX = 4 * 1024 * 1024;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

/** Scripts and styles from the page's own origin only; the API calls go to the same origin. */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

interface Asset {
  type: string;
  body: Buffer;
  gzipped: Buffer | undefined;
  etag: string;
  immutable: boolean;
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>tidemark</title>
<body style="font:15px system-ui;margin:3em;max-width:40em">
<h1>tidemark</h1><p>The server runs, but its dashboard was not built. Run
<code>npm run build</code> in the package, then reload. The JSON endpoints
(<code>/v1/stats</code>, <code>/v1/streams</code>, <code>/v1/outbox</code>) work without it.</p>`;

export class DashboardAssets {
  private constructor(private readonly files: Map<string, Asset>) {}

  /** Loads every file under `dir`; none (a dashboard not built) serves a page that says so. */
  static async load(dir: string | false): Promise<DashboardAssets> {
    const files = new Map<string, Asset>();
    if (dir === false) return new DashboardAssets(files);
    let names: string[];
    try {
      names = (await readdir(dir, { recursive: true, withFileTypes: true }))
        .filter((entry) => entry.isFile())
        .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join("/"));
    } catch {
      names = [];
    }
    for (const name of names.slice(0, FILES_MAX)) {
      const body = await readFile(join(dir, name));
      if (body.byteLength > FILE_BYTES_MAX) continue;
      const type = TYPES[extname(name)] ?? "application/octet-stream";
      const compressible =
        type.startsWith("text/") || type.includes("svg") || type.includes("json");
      files.set(name, {
        type,
        body,
        gzipped: compressible ? await promisify(gzip)(body, { level: 9 }) : undefined,
        etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
        immutable: name.startsWith("assets/"),
      });
    }
    return new DashboardAssets(files);
  }

  /** True if the request was the dashboard's (answered), false if it is not its path. */
  serve(req: IncomingMessage, res: ServerResponse, pathname: string): boolean {
    if (pathname === "/" || pathname === "/ui") {
      send(res, 302, { location: DASHBOARD_PREFIX, "cache-control": "no-store" });
      return true;
    }
    if (!pathname.startsWith(DASHBOARD_PREFIX)) return false;
    const method = req.method ?? "GET";
    if (method !== "GET" && method !== "HEAD") {
      send(res, 405, { allow: "GET, HEAD" });
      return true;
    }
    const name = pathname.slice(DASHBOARD_PREFIX.length) || "index.html";
    const asset = this.files.get(name);
    if (asset === undefined) {
      if (name === "index.html") {
        send(res, 200, { "content-type": TYPES[".html"]!, "cache-control": "no-store" }, NOT_BUILT);
      } else {
        send(res, 404, { "content-type": TYPES[".txt"]! }, "not found\n");
      }
      return true;
    }
    const headers: Record<string, string> = {
      "content-type": asset.type,
      etag: asset.etag,
      "cache-control": asset.immutable ? "public, max-age=31536000, immutable" : "no-cache",
      vary: "accept-encoding",
    };
    if (asset.type.startsWith("text/html")) {
      headers["content-security-policy"] = CSP;
      headers["referrer-policy"] = "no-referrer";
    }
    if (req.headers["if-none-match"] === asset.etag) {
      send(res, 304, headers);
      return true;
    }
    const gzipOk = /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
    if (asset.gzipped !== undefined && gzipOk) {
      headers["content-encoding"] = "gzip";
      send(res, 200, headers, asset.gzipped);
    } else {
      send(res, 200, headers, asset.body);
    }
    return true;
  }
}
