/**
 * `tidemark serve` (the built CLI, arguments as given) with its event loop watched: on SIGUSR2
 * it prints the longest event-loop delay since the last SIGUSR2 (perf_hooks, 10 ms resolution)
 * as `loop-delay-max-ms <n>` on stderr, so a benchmark can tell time the server spent blocked
 * from time its probes spent waiting for a CPU.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";

const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
process.on("SIGUSR2", () => {
  process.stderr.write(`loop-delay-max-ms ${Math.round(delay.max / 1e6)}\n`);
  delay.reset();
});
await import("../../dist/cli/main.js");
