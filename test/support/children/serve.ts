/** Runs the tidemark command line (for tests that need `tidemark serve` as its own process). */
import "../../../src/cli/main.js";
