/**
 * The layers are enforced by the lint step (biome.json): format <- storage <- outbox <- server
 * <- cli, imports only downward, the layers above through each one's index.ts, no import cycles
 * (type-only ones included), no HTTP types in the Durable Streams model. These run the project's
 * own lint configuration over small trees that break each rule once, and one that breaks none.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { tempDir } from "./support/tmp-dir.js";

const root = fileURLToPath(new URL("..", import.meta.url));

function lint(files: Record<string, string>): { ok: boolean; output: string } {
  const dir = tempDir("tidemark-layers");
  copyFileSync(join(root, "biome.json"), join(dir, "biome.json"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const run = spawnSync(
    join(root, "node_modules/.bin/biome"),
    ["lint", "--max-diagnostics=20", "."],
    {
      cwd: dir,
      encoding: "utf8",
    },
  );
  return { ok: run.status === 0, output: run.stdout + run.stderr };
}

const exporting = (name: string) => `export const ${name} = 1;\n`;

describe("layers", () => {
  it("accepts imports that go down, through a layer's face", () => {
    const result = lint({
      "src/storage/index.ts": 'export { journal } from "./journal/journal.js";\n',
      "src/storage/journal/journal.ts": exporting("journal"),
      "src/outbox/outbox.ts":
        'import { journal } from "../storage/index.js";\nexport const outbox = journal;\n',
    });
    expect(result.output).not.toContain("noRestrictedImports");
    expect(result.ok).toBe(true);
  });

  it("fails on an upward import", () => {
    const result = lint({
      "src/outbox/outbox.ts": exporting("outbox"),
      "src/storage/journal/journal.ts":
        'import { outbox } from "../../outbox/outbox.js";\nexport const journal = outbox;\n',
    });
    expect(result.ok).toBe(false);
    expect(result.output).toContain("storage may not import a layer above it");
  });

  it("fails on an import past a layer's face", () => {
    const result = lint({
      "src/storage/journal/journal.ts": exporting("journal"),
      "src/server/server.ts":
        'import { journal } from "../storage/journal/journal.js";\nexport const server = journal;\n',
    });
    expect(result.ok).toBe(false);
    expect(result.output).toContain("through their faces");
  });

  it("keeps jetstream below the server, used through its face", () => {
    const upward = lint({
      "src/server/server.ts": exporting("server"),
      "src/jetstream/store.ts":
        'import { server } from "../server/server.js";\nexport const store = server;\n',
    });
    expect(upward.ok).toBe(false);
    expect(upward.output).toContain("jetstream is a store below the server");
    const pastFace = lint({
      "src/jetstream/jetstream-store.ts": exporting("store"),
      "src/server/server.ts":
        'import { store } from "../jetstream/jetstream-store.js";\nexport const server = store;\n',
    });
    expect(pastFace.ok).toBe(false);
    expect(pastFace.output).toContain("jetstream/index.ts");
    const throughFace = lint({
      "src/jetstream/index.ts": exporting("store"),
      "src/server/server.ts":
        'import { store } from "../jetstream/index.js";\nexport const server = store;\n',
    });
    expect(throughFace.output).not.toContain("noRestrictedImports");
    expect(throughFace.ok).toBe(true);
  });

  it("fails on HTTP types in the Durable Streams model", () => {
    const result = lint({
      "src/server/streams/model.ts":
        'import type { IncomingMessage } from "node:http";\nexport type M = IncomingMessage;\n',
    });
    expect(result.ok).toBe(false);
    expect(result.output).toContain("no HTTP types in it");
  });

  it("fails on an import cycle, even of types only", () => {
    const result = lint({
      "src/server/a.ts": 'import type { B } from "./b.js";\nexport type A = { b?: B };\n',
      "src/server/b.ts": 'import type { A } from "./a.js";\nexport type B = { a?: A };\n',
    });
    expect(result.ok).toBe(false);
    expect(result.output).toContain("noImportCycles");
  });

  it("keeps the dashboard a browser app: the admin API's wire types, nothing else of src", () => {
    const shared = lint({
      "src/server/admin/wire-types.ts": "export interface StatsView { now: number }\n",
      "dashboard/src/api.ts":
        'import type { StatsView } from "../../src/server/admin/wire-types.js";\nexport type S = StatsView;\n',
    });
    expect(shared.output).not.toContain("noRestrictedImports");
    expect(shared.ok).toBe(true);
    const node = lint({
      "src/errors.ts": exporting("TidemarkError"),
      "dashboard/src/api.ts":
        'import { readFile } from "node:fs/promises";\nimport { TidemarkError } from "../../src/errors.js";\nexport const x = [readFile, TidemarkError];\n',
    });
    expect(node.ok).toBe(false);
    expect(node.output.match(/the dashboard is a browser app/g)?.length).toBe(2);
  });
});
