// Installs the benchmarks' baselines (bench/package.json) into bench/node_modules the first time
// a benchmark runs: they are not dependencies of tidemark, so `npm install` at the root stays
// free of native builds. better-sqlite3 compiles from source here (bench/.prebuild-installrc),
// which needs make, g++ and python3.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

const bench = import.meta.dirname;
const needed = [
  "better-sqlite3/build/Release/better_sqlite3.node",
  "@durable-streams/server/package.json",
];
if (!needed.every((path) => existsSync(join(bench, "node_modules", path)))) {
  process.stderr.write(
    "bench: installing the baselines (better-sqlite3 compiles: about 2 minutes)\n",
  );
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const result = spawnSync(npm, ["install", "--no-audit", "--no-fund"], {
    cwd: bench,
    stdio: "inherit",
  });
  if (result.status !== 0) {
    process.stderr.write(
      "bench: installing the baselines failed (is there make, g++ and python3?)\n",
    );
    process.exit(result.status ?? 1);
  }
}
