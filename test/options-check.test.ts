/**
 * Options checked to the leaves, library and server alike: an unknown key or a bad value
 * anywhere fails at once, with the key's path, before anything is written.
 */
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  DurableStreamsUpstream,
  HttpUpstream,
  Journal,
  type JournalOptions,
  Outbox,
} from "../src/index.js";
import { type ServerOptions, startServer } from "../src/server/server.js";
import type { SERVER_OPTION_KEYS } from "../src/server/server-options.js";
import { memoryLogger } from "./support/silent-logger.js";
import { tempDir } from "./support/tmp-dir.js";

const TOKEN = "t".repeat(32);
const scopes = [{ prefix: "", access: "write" as const }];

/** Resolves with the error's message after checking its code (and, with `path`, its context). */
async function refused(promise: Promise<unknown>, path?: string): Promise<string> {
  const err = (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as { code?: string; message: string; context?: { option?: string } } | undefined;
  expect(err, "expected a refusal").toBeDefined();
  expect(err!.code, err!.message).toBe("INVALID_ARGUMENT");
  if (path !== undefined) expect(err!.context?.option).toBe(path);
  return err!.message;
}

describe("library options", () => {
  it("Journal.open refuses a misspelt option and names the one meant, creating nothing", async () => {
    const dir = tempDir();
    const message = await refused(
      Journal.open(`${dir}/j`, { durabilty: "none" } as JournalOptions),
      "Journal.open options.durabilty",
    );
    expect(message).toMatch(/did you mean durability\?/);
    expect(readdirSync(dir)).toEqual([]);
    await refused(Journal.open(`${dir}/j`, { readOnly: "yes" } as never), "readOnly");
    await refused(
      Journal.open(`${dir}/j`, { limits: { bytesmax: 1 } } as never),
      "limits.bytesmax",
    );
  });

  it("stream(), read(), follow(), configure() and trim() refuse keys they do not take", async () => {
    const journal = await Journal.open(tempDir());
    try {
      // `limit` for `limits` would have made an unbounded stream.
      const message = await refused(
        journal.stream("a", { limit: { recordsMax: 2 } } as never),
        "stream() options.limit",
      );
      expect(message).toMatch(/did you mean limits\?/);
      expect(journal.list()).toEqual([]);
      await refused(
        journal.stream("a", { limits: { recordsmax: 2 } } as never),
        "limits.recordsmax",
      );
      const stream = await journal.stream("a");
      await stream.appendMany(["1", "2", "3"]);
      expect(() => stream.read({ afterr: 2 } as never)).toThrow(/read\(\) options\.afterr/);
      expect(() => stream.follow({ limit: 2 } as never)).toThrow(/follow\(\) options\.limit/);
      await refused(stream.configure({ limit: {} } as never), "configure() options.limit");
      await refused(stream.trim({ befor: 2 } as never), "trim() options.befor");
      expect(stream.info().firstSeq).toBe(1);
    } finally {
      await journal.close();
    }
  });

  it("Outbox.open, its backoff and the upstreams refuse keys they do not take", async () => {
    const journal = await Journal.open(tempDir());
    try {
      const upstream = new HttpUpstream({ baseUrl: "http://127.0.0.1:9" });
      await refused(
        Outbox.open(journal, "o", { upstream, attemptMax: 3 } as never),
        "Outbox.open options.attemptMax",
      );
      await refused(
        Outbox.open(journal, "o", { upstream, backoff: { initialms: 5 } } as never),
        "backoff.initialms",
      );
      expect(() => new HttpUpstream({ baseUrl: "http://x", timeout: 5 } as never)).toThrow(
        /HttpUpstream options\.timeout/,
      );
      expect(() => new DurableStreamsUpstream({ baseUrl: "http://x", tokn: "" } as never)).toThrow(
        /DurableStreamsUpstream options\.tokn/,
      );
    } finally {
      await journal.close();
    }
  });
});

describe("server options", () => {
  const start = (extra: Record<string, unknown>) =>
    startServer({ dir: tempDir(), port: 0, logger: memoryLogger(), ...extra } as ServerOptions);

  it("names the path of a bad key anywhere, before the journal is opened", async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ streamLimits: { recordsmax: 5 } }, "streamLimits.recordsmax"],
      [{ streamLimits: { bytesMax: "lots" } }, "streamLimits.bytesMax"],
      [{ journalLimits: { bytesMax: -1 } }, "journalLimits.bytesMax"],
      [{ journalLimits: { diskFree: 1 } }, "journalLimits.diskFree"],
      [{ outboxes: { sync: { baseUrl: "http://127.0.0.1:9", tokn: "x" } } }, "outboxes.sync.tokn"],
      [{ outboxes: { sync: { baseurl: "http://127.0.0.1:9" } } }, "outboxes.sync.baseurl"],
      [
        { outboxes: { sync: { baseUrl: "http://x", attemptsMax: 0 } } },
        "outboxes.sync.attemptsMax",
      ],
      [
        { mirrors: [{ stream: "s", baseUrl: "http://x", target: "/t", strem: 1 }] },
        "mirrors[0].strem",
      ],
      [{ mirrors: [{ stream: "s", baseUrl: "http://x" }] }, "mirrors[0].target"],
      [{ outboxes: { js: { kind: "jetstream", servers: "nats://x" } } }, "outboxes.js.natsStream"],
      [
        { outboxes: { js: { kind: "jetstream", servers: "http://x", natsStream: "E" } } },
        "outboxes.js.servers",
      ],
      [
        { mirrors: [{ kind: "jetstream", stream: "s", target: "/t", servers: ["nats://x"] }] },
        "mirrors[0].natsStream",
      ],
      [
        { mirrors: [{ kind: "nats", stream: "s", target: "/t", baseUrl: "http://x" }] },
        "mirrors[0].kind",
      ],
      [{ port: 99_999 }, "port"],
      [{ longPollTimeoutMs: 0 }, "longPollTimeoutMs"],
      [{ sseLifetimems: 5 }, "sseLifetimems"],
      [{ auth: { tokens: [{ token: TOKEN, scopes, scope: [] }] } }, "auth.tokens[0].scope"],
      [
        { auth: { tokens: [{ token: TOKEN, scopes: [{ prefix: "", access: "all" }] }] } },
        "auth.tokens[0].scopes[0].access",
      ],
    ];
    for (const [options, path] of cases) {
      const dir = tempDir();
      await refused(
        startServer({
          dir: `${dir}/j`,
          port: 0,
          logger: memoryLogger(),
          ...options,
        } as ServerOptions),
        path,
      );
      expect(readdirSync(dir), path).toEqual([]); // nothing created
    }
  });

  it("refuses token secrets that are short, hold whitespace, or are shared by two tokens", async () => {
    const token = (secret: string) => ({ token: secret, scopes });
    // The README's placeholder, copied as is: its spaces mean it could never authenticate.
    const placeholder = await refused(
      start({ auth: { tokens: [token("<32+ random characters>")] } }),
      "auth.tokens[0].token",
    );
    expect(placeholder).toMatch(/at least 32 characters without whitespace/);
    await refused(start({ auth: { tokens: [token("x".repeat(31))] } }), "auth.tokens[0].token");
    await refused(
      start({ auth: { tokens: [token(`${"x".repeat(20)} ${"y".repeat(20)}`)] } }),
      "auth.tokens[0].token",
    );
    const twin = await refused(
      start({ auth: { tokens: [token(TOKEN), token("u".repeat(40)), token(TOKEN)] } }),
      "auth.tokens[2].token",
    );
    expect(twin).toMatch(/same secret as auth\.tokens\[0\]/);
  });

  it("knows every key of ServerOptions", () => {
    type Missing = Exclude<keyof ServerOptions, (typeof SERVER_OPTION_KEYS)[number]>;
    type Extra = Exclude<(typeof SERVER_OPTION_KEYS)[number], keyof ServerOptions>;
    const agree: [Missing, Extra] extends [never, never] ? true : false = true;
    expect(agree).toBe(true);
  });
});
