/** Opens a journal, prints "opened" or the error code, then waits until stdin closes. */
import { Journal } from "../../../src/index.js";

const dir = process.argv[2]!;
try {
  const journal = await Journal.open(dir);
  process.stdout.write(`opened ${process.pid}\n`);
  process.stdin.resume();
  process.stdin.on("end", async () => {
    await journal.close();
    process.exit(0);
  });
} catch (err) {
  process.stdout.write(
    `failed ${(err as { code?: string }).code ?? String(err)} ${(err as Error).message.replaceAll("\n", " ")}\n`,
  );
  process.exit(0);
}
