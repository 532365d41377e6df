/**
 * What the dashboard's browser tests share: the dashboard built from its current source (into a
 * temporary folder, so the tests never see a stale dist/), Debian's Chromium driven by
 * playwright-core (no browser download), and servers on loopback that serve that build.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { build } from "vite";
import { type RunningServer, type ServerOptions, startServer } from "../../src/server/server.js";
import { memoryLogger } from "./silent-logger.js";
import { tempDir } from "./tmp-dir.js";

export const CHROMIUM = "/usr/bin/chromium";

/** Flags for headless Chromium as root on a machine whose network is closed. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function buildDashboard(): Promise<string> {
  const outDir = tempDir("tidemark-dashboard-build");
  await build({
    configFile: fileURLToPath(new URL("../../dashboard/vite.config.ts", import.meta.url)),
    build: { outDir, emptyOutDir: true, reportCompressedSize: false },
    logLevel: "error",
  });
  return outDir;
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Chromium with a new, empty profile directory (removed on close). */
export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), "tidemark-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 1000 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A page that fails the test on any error it throws or logs. */
export async function openPage(browser: Browser, url: string): Promise<Page> {
  const page = await browser.context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (err) => problems.push(err.message));
  page.on("console", (message) => {
    // A 401 or 403 the page expects (and handles) is logged by Chromium as a failed resource.
    if (message.type() === "error" && !/status of 40[13]/.test(message.text())) {
      problems.push(message.text());
    }
  });
  (page as Page & { problems: string[] }).problems = problems;
  await page.goto(url);
  return page;
}

export function problemsOf(page: Page): string[] {
  return (page as Page & { problems?: string[] }).problems ?? [];
}

export async function serveDashboard(
  dashboardDir: string,
  options: Partial<ServerOptions> = {},
): Promise<RunningServer> {
  return startServer({
    dir: tempDir("tidemark-dashboard"),
    port: 0,
    logger: memoryLogger(),
    dashboardDir,
    ...options,
  });
}

export async function http(
  server: RunningServer,
  method: string,
  path: string,
  options: { body?: string; type?: string; token?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      ...(options.type === undefined ? {} : { "content-type": options.type }),
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
      ...options.headers,
    },
    ...(options.body === undefined ? {} : { body: options.body }),
  });
  return res;
}
