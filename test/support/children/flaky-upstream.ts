/** The misbehaving upstream as its own process (so a test can SIGKILL and restart it). */
import { type Chaos, startFlakyUpstream } from "../flaky-upstream.js";

const [dir, port, seed, chaos] = process.argv.slice(2) as [string, string, string, string];
const upstream = await startFlakyUpstream({
  dir,
  port: Number(port),
  seed: Number(seed),
  chaos: JSON.parse(chaos) as Chaos,
});
process.stdout.write(`listening ${upstream.url}\n`);
