/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) against real
 * servers on loopback: the overview shows what /v1/stats reports, a stream made over HTTP shows
 * in the list, the live tail shows a new append within a second, an outbox conflict is retried
 * from the page, a read-only token sees no button that writes (and the server refuses
 * those writes with 403 anyway), and on a `--nats` server the streams another process made are
 * listed and shown, with what JetStream does not keep rendered as absent.
 */
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { formatBytes, formatCount } from "../../dashboard/src/format.js";
import type { StatsView } from "../../src/server/admin/wire-types.js";
import { type RunningServer, startServer } from "../../src/server/server.js";
import {
  type Browser,
  buildDashboard,
  http,
  launchBrowser,
  openPage,
  problemsOf,
  serveDashboard,
} from "../support/browser.js";
import {
  CALM,
  type FlakyUpstream,
  readApplied,
  startFlakyUpstream,
} from "../support/flaky-upstream.js";
import { type NatsServer, startNatsServer } from "../support/nats.js";
import { memoryLogger } from "../support/silent-logger.js";
import { tempDir } from "../support/tmp-dir.js";

let dashboardDir: string;
let browser: Browser;
const cleanup: Array<RunningServer | FlakyUpstream | NatsServer> = [];
const pages: Page[] = [];

beforeAll(async () => {
  dashboardDir = await buildDashboard();
  browser = await launchBrowser();
}, 120_000);

afterEach(async () => {
  for (const page of pages.splice(0)) {
    expect(problemsOf(page), "errors in the page").toEqual([]);
    await page.close();
  }
  for (const item of cleanup.splice(0).reverse()) await item.stop();
});

afterAll(async () => {
  await browser?.close();
});

async function open(server: RunningServer, hash = ""): Promise<Page> {
  const page = await openPage(browser, `${server.url}/${hash}`);
  pages.push(page);
  return page;
}

async function serve(options: Parameters<typeof serveDashboard>[1] = {}): Promise<RunningServer> {
  const server = await serveDashboard(dashboardDir, options);
  cleanup.push(server);
  return server;
}

/** The raw number a figure on the page shows (its data-value). */
async function figure(page: Page, stat: string): Promise<number> {
  const value = await page.locator(`[data-stat="${stat}"]`).first().getAttribute("data-value");
  return Number(value);
}

describe("dashboard in a browser", () => {
  it("the overview shows the numbers the server reports", async () => {
    const server = await serve({
      journalLimits: { bytesMax: 256 * 1024 * 1024, diskFreeBytesMin: 32 * 1024 * 1024 },
    });
    for (const name of ["agents/a", "agents/b", "term/1"]) {
      await http(server, "PUT", `/v1/stream/${name}`, { type: "application/json" });
      for (let i = 0; i < 4; i++) {
        await http(server, "POST", `/v1/stream/${name}`, {
          type: "application/json",
          body: JSON.stringify({ i, name }),
        });
      }
    }
    const stats = (await (await http(server, "GET", "/v1/stats")).json()) as StatsView;
    const page = await open(server);
    await page.locator('[data-stat="streams"]').waitFor();
    expect(page.url()).toContain("/ui/");
    expect(await figure(page, "streams")).toBe(3);
    await expect.poll(() => figure(page, "journal-bytes")).toBe(stats.journal.bytes);
    const shown = async (stat: string) =>
      (await page.locator(`[data-stat="${stat}"]`).first().textContent()) ?? "";
    expect(await shown("streams")).toBe(formatCount(stats.streams));
    expect(await shown("journal-bytes")).toBe(formatBytes(stats.journal.bytes));
    expect(await shown("bytes-max")).toBe(formatBytes(256 * 1024 * 1024));
    expect(await shown("disk-free-min")).toBe(formatBytes(32 * 1024 * 1024));
    expect(await figure(page, "records")).toBe(stats.journal.records);
    expect(await figure(page, "appends-total")).toBe(12);
    expect(await figure(page, "live")).toBe(0);

    // Appends while the page watches show as a rate above zero.
    const until = Date.now() + 2500;
    let n = 0;
    while (Date.now() < until) {
      await http(server, "POST", "/v1/stream/agents/a", {
        type: "application/json",
        body: `{"n":${n++}}`,
      });
    }
    await expect
      .poll(async () => Number.parseFloat(await shown("appends-rate")), { timeout: 5000 })
      .toBeGreaterThan(0);
  });

  it("a stream created and appended to over HTTP appears in the list", async () => {
    const server = await serve();
    await http(server, "PUT", "/v1/stream/old/one", { type: "text/plain" });
    const page = await open(server, "ui/#/streams");
    await page.locator('[data-stream="old/one"]').waitFor();
    const name = "fresh/stream-42";
    await http(server, "PUT", `/v1/stream/${name}`, { type: "application/json" });
    for (let i = 0; i < 3; i++) {
      await http(server, "POST", `/v1/stream/${name}`, {
        type: "application/json",
        body: `{"i":${i}}`,
      });
    }
    const row = page.locator(`[data-stream="${name}"]`);
    await row.waitFor({ timeout: 10_000 });
    await expect.poll(() => row.locator("td").nth(1).textContent(), { timeout: 10_000 }).toBe("3");
    expect(await row.textContent()).toContain("application/json");

    // The prefix filter goes to the server and keeps only what matches.
    await page.getByLabel("Filter by name prefix").fill("fresh/");
    await expect.poll(() => page.locator("[data-stream]").count(), { timeout: 5000 }).toBe(1);
    expect(await figure(page, "streams-total")).toBe(1);
    await row.locator("a").click();
    await page.locator(`[data-stream-name="${name}"]`).waitFor();
    await page.locator('[data-seq="3"]').waitFor();
  });

  it("live tail shows a new append within a second", async () => {
    const server = await serve();
    await http(server, "PUT", "/v1/stream/tail/me", { type: "application/json" });
    await http(server, "POST", "/v1/stream/tail/me", {
      type: "application/json",
      body: '{"first":true}',
    });
    const page = await open(server, `ui/#/stream/${encodeURIComponent("tail/me")}`);
    await page.locator('[data-seq="1"]').waitFor();
    await page.getByRole("switch", { name: "Live tail" }).check({ force: true });
    await page.locator('[data-live-state="live"]').waitFor({ timeout: 10_000 });
    const marker = `marker-${Date.now()}`;
    const res = await http(server, "POST", "/v1/stream/tail/me", {
      type: "application/json",
      body: JSON.stringify({ marker }),
    });
    expect(res.status).toBe(204);
    // Acknowledged, so committed: the page must show it within a second.
    await page.locator('[data-seq="2"]', { hasText: marker }).waitFor({ timeout: 1000 });
  });

  it("an outbox conflict can be retried from the page and leaves the conflict list", async () => {
    const upstreamDir = tempDir("tidemark-upstream");
    const upstream = await startFlakyUpstream({ dir: upstreamDir, chaos: CALM });
    cleanup.push(upstream);
    const server = await serve({ outboxes: { sync: { baseUrl: upstream.url } } });
    const enqueue = await http(server, "POST", "/v1/outbox/sync", {
      type: "application/json",
      body: JSON.stringify({
        key: "doc-1",
        method: "PUT",
        target: "/items/1",
        body: "the new text",
        precondition: { ifMatch: '"v7"' }, // stale: the upstream is at "v0" and answers 412
      }),
    });
    const { id } = (await enqueue.json()) as { id: string };
    const page = await open(server, "ui/#/outboxes/sync");
    const entry = page.locator(`[data-entries="conflicts"] [data-entry="${id}"]`);
    await entry.waitFor({ timeout: 10_000 });
    expect(await entry.textContent()).toContain("412");
    // The retry's If-Match starts as the ETag the upstream answered with.
    expect(await entry.getByLabel("If-Match for the retry").inputValue()).toBe('"v0"');
    await entry.getByRole("button", { name: "Retry" }).click();
    await entry.waitFor({ state: "detached", timeout: 10_000 });
    await expect.poll(() => page.locator('[data-count="conflicts"]').textContent()).toBe("0");
    await expect.poll(() => readApplied(upstreamDir).map((a) => a.body)).toEqual(["the new text"]);
  });

  it("with a read-only token no write button is shown and the write endpoints answer 403", async () => {
    const writer = "w".repeat(32);
    const reader = "r".repeat(32);
    const upstream = await startFlakyUpstream({ dir: tempDir("tidemark-upstream"), chaos: CALM });
    cleanup.push(upstream);
    const server = await serve({
      auth: {
        tokens: [
          { name: "ops", token: writer, scopes: [{ prefix: "", access: "write" }] },
          { name: "viewer", token: reader, scopes: [{ prefix: "", access: "read" }] },
        ],
      },
      outboxes: { sync: { baseUrl: upstream.url } },
    });
    const enqueue = await http(server, "POST", "/v1/outbox/sync", {
      token: writer,
      type: "application/json",
      body: JSON.stringify({
        method: "PUT",
        target: "/items/1",
        body: "x",
        precondition: { ifMatch: '"v3"' },
      }),
    });
    const { id } = (await enqueue.json()) as { id: string };

    const page = await open(server, "ui/#/outboxes/sync");
    // No token yet: the page asks for one; a wrong one is refused.
    await page.getByLabel("Token").fill("not-a-token-not-a-token-not-a-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "not known" }).waitFor();
    await page.getByLabel("Token").fill(reader);
    await page.getByRole("button", { name: "Sign in" }).click();
    const entry = page.locator(`[data-entries="conflicts"] [data-entry="${id}"]`);
    await entry.waitFor({ timeout: 10_000 });
    expect(await page.locator(".who").textContent()).toContain("viewer");
    expect(await page.getByText("read-only").count()).toBeGreaterThan(0);
    for (const name of ["Retry", "Discard"]) {
      expect(await page.getByRole("button", { name }).count(), name).toBe(0);
    }
    // The token is kept for this tab only.
    expect(await page.evaluate('sessionStorage.getItem("tidemark.token")')).toBe(reader);
    expect(await page.evaluate("localStorage.length")).toBe(0);

    // The same page with the writing token has the buttons (so the check above can fail).
    const other = await browser.context.newPage();
    pages.push(other);
    await other.addInitScript(
      `sessionStorage.setItem("tidemark.token", ${JSON.stringify(writer)})`,
    );
    await other.goto(`${server.url}/ui/#/outboxes/sync`);
    await other.locator(`[data-entry="${id}"]`).getByRole("button", { name: "Retry" }).waitFor();

    // And the server refuses the writes to the read-only token whatever the page shows.
    for (const path of [
      "/v1/outbox/sync",
      `/v1/outbox/sync/entries/${id}/retry`,
      `/v1/outbox/sync/entries/${id}/discard`,
    ]) {
      const res = await http(server, "POST", path, {
        token: reader,
        type: "application/json",
        body: '{"body":"x"}',
      });
      expect(res.status, path).toBe(403);
    }
    const put = await http(server, "PUT", "/v1/stream/anything", {
      token: reader,
      type: "text/plain",
    });
    expect(put.status).toBe(403);
    const detail = await http(server, "GET", "/v1/outbox/sync", { token: writer });
    expect(((await detail.json()) as { conflicts: number }).conflicts).toBe(1);
  });

  it("on a --nats server lists and shows the streams another process made", async () => {
    const nats = await startNatsServer();
    cleanup.push(nats); // stopped last, after both servers
    const server = await serve({ nats: { servers: [nats.url] } });
    const other = await startServer({
      dir: tempDir("tidemark-dashboard-other"),
      port: 0,
      logger: memoryLogger(),
      nats: { servers: [nats.url] },
    });
    cleanup.push(other);
    for (const name of ["fleet/a", "fleet/b", "fleet/c"]) {
      await http(other, "PUT", `/v1/stream/${name}`, { type: "application/json" });
    }
    for (let i = 0; i < 3; i++) {
      // Through both processes: separate JetStream messages, so the seqs have gaps.
      await http(i % 2 === 0 ? other : server, "POST", "/v1/stream/fleet/a", {
        type: "application/json",
        body: JSON.stringify({ i, note: "on JetStream" }),
      });
    }
    const page = await open(server, "ui/#/streams");
    await page.locator('[data-store="jetstream"]').waitFor();
    await page.locator('[data-stream="fleet/c"]').waitFor();
    expect(await figure(page, "streams-total")).toBe(3);
    // By name only there: the figure columns are not sort buttons.
    expect(await page.getByRole("button", { name: /^Name/ }).count()).toBe(1);
    expect(await page.getByRole("button", { name: /^Records/ }).count()).toBe(0);
    if (process.env["TIDEMARK_SCREENSHOTS"] !== undefined) {
      await page.screenshot({ path: `${process.env["TIDEMARK_SCREENSHOTS"]}/streams-nats.png` });
    }
    await page.locator('[data-stream="fleet/a"] a').click();
    await page.locator('[data-stream-name="fleet/a"]').waitFor();
    await expect.poll(() => figure(page, "stream-records"), { timeout: 10_000 }).toBe(3);
    await expect.poll(() => page.locator("[data-seq]").count(), { timeout: 10_000 }).toBe(3);
    expect(await page.locator("[data-seq]").last().textContent()).toContain("on JetStream");
    expect(await page.getByText("tidemark keeps no durable consumers").count()).toBe(1);
    if (process.env["TIDEMARK_SCREENSHOTS"] !== undefined) {
      await page.screenshot({
        path: `${process.env["TIDEMARK_SCREENSHOTS"]}/stream-nats.png`,
        fullPage: true,
      });
    }
  });
});
