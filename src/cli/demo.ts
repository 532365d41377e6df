/**
 * `tidemark demo [dir]`: a tour of the library on a real journal directory. It appends, reads
 * back, follows live appends, and lists the files it made, so a newcomer sees the API working
 * and what it leaves on disk.
 * Without a directory it makes a fresh one under the system's temp directory (never the
 * server's ./tidemark-data, which a running server holds) and says where.
 */
import { mkdtemp, readdir, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Journal } from "../index.js";

export async function demo(
  given: string | undefined,
  print: (line: string) => void,
): Promise<void> {
  const dir = given ?? (await mkdtemp(join(tmpdir(), "tidemark-demo-")));
  const journal = await Journal.open(resolve(dir));
  try {
    const stream = await journal.stream("demo/session-1");
    const before = stream.info().lastSeq;
    print(
      `journal at ${resolve(dir)}: ${journal.list().length} stream(s); "${stream.name}" holds ${before} record(s)`,
    );

    const { seq } = await stream.append(
      JSON.stringify({ type: "start", at: new Date().toISOString() }),
    );
    const batch = await stream.appendMany(["token: Hello", "token: ,", "token: world"]);
    print(
      `appended seq ${seq}, then an atomic batch of seqs ${batch.join(", ")} (each synced before it resolved)`,
    );

    print(`reading everything after seq ${before}:`);
    for await (const record of stream.read({ after: before })) {
      print(
        `  ${record.seq}  ${new Date(record.timestamp).toISOString()}  ${Buffer.from(record.payload).toString()}`,
      );
    }

    const controller = new AbortController();
    const live: number[] = [];
    const following = (async () => {
      for await (const record of stream.follow({
        after: batch[batch.length - 1]!,
        signal: controller.signal,
      })) {
        live.push(record.seq);
        if (live.length === 3) controller.abort();
      }
    })();
    for (let i = 1; i <= 3; i++) await stream.append(`live event ${i}`);
    await following;
    print(`a follower delivered live seqs ${live.join(", ")} as they were committed`);

    const info = stream.info();
    print(
      `info: seqs ${info.firstSeq}..${info.lastSeq}, ${info.records} records, ${info.bytes} bytes on disk`,
    );
  } finally {
    await journal.close();
  }
  print("the files, after close (docs/format.md says what each holds):");
  for (const line of await listFiles(resolve(dir))) print(`  ${line}`);
  print(
    `run this again with tidemark demo ${resolve(dir)}: the journal keeps everything, and seqs continue where they stopped`,
  );
}

/** Every file under `root`, relative, with its size, in path order. */
async function listFiles(root: string): Promise<string[]> {
  const lines: string[] = [];
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(join(root, relative), { withFileTypes: true });
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) await walk(path);
      else lines.push(`${path}  ${(await stat(join(root, path))).size} bytes`);
    }
  };
  await walk("");
  return lines;
}
