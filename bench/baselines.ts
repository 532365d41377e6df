/**
 * The baselines every journal benchmark is compared with, measured in the same run:
 * a naive NDJSON log with fs.appendFile, a raw write+fdatasync loop, a bare write loop (the
 * ceiling for unsynced batches on this disk), and better-sqlite3 in WAL mode.
 */
import fs from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { measure, payload, type Result } from "./lib.js";

const write = promisify(fs.write);
const writev = promisify(fs.writev);
const fdatasync = promisify(fs.fdatasync);

export async function ndjsonAppendFile(dir: string, records: number): Promise<Result> {
  const path = join(dir, "naive.ndjson");
  return measure("naive NDJSON appendFile (no fsync)", records, async () => {
    for (let i = 0; i < records; i++) await fs.promises.appendFile(path, `${payload(i)}\n`);
  });
}

export async function rawWriteDatasync(dir: string, records: number): Promise<Result> {
  const fd = fs.openSync(join(dir, "raw.log"), "w");
  const buf = Buffer.from(`${payload(0)}\n`);
  let position = 0;
  try {
    return await measure("raw write+fdatasync loop (1 awaited writer)", records, async () => {
      for (let i = 0; i < records; i++) {
        await write(fd, buf, 0, buf.length, position);
        position += buf.length;
        await fdatasync(fd);
      }
    });
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The ceiling for `appendMany` of 1000 records at 'none': one awaited write() of 1000 records'
 * worth of bytes (200-byte payloads plus the 28-byte record header) after another, nothing
 * encoded, nothing synced. On this VM the page cache takes about 0.6 ms per such write.
 */
export async function bareWriteBatches(dir: string, records: number): Promise<Result> {
  const fd = fs.openSync(join(dir, "bare.log"), "w");
  const buf = Buffer.alloc(1000 * (200 + 28), 0x61);
  let position = 0;
  try {
    return await measure("bare write() loop, 1000 records per write", records, async () => {
      for (let i = 0; i < records; i += 1000) {
        await write(fd, buf, 0, buf.length, position);
        position += buf.length;
      }
    });
  } finally {
    fs.closeSync(fd);
  }
}

function openSqlite(dir: string, name: string, synchronous: "FULL" | "NORMAL") {
  const db = new Database(join(dir, name));
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${synchronous}`);
  db.exec("CREATE TABLE events (seq INTEGER PRIMARY KEY, ts INTEGER, payload BLOB)");
  return db;
}

export async function sqliteFullPerRow(dir: string, records: number): Promise<Result> {
  const db = openSqlite(dir, "full.db", "FULL");
  const insert = db.prepare("INSERT INTO events (ts, payload) VALUES (?, ?)");
  try {
    return await measure("SQLite WAL synchronous=FULL, 1 row/txn", records, async () => {
      for (let i = 0; i < records; i++) insert.run(Date.now(), payload(i));
    });
  } finally {
    db.close();
  }
}

export async function sqliteNormalBatched(dir: string, records: number): Promise<Result> {
  const db = openSqlite(dir, "normal.db", "NORMAL");
  const insert = db.prepare("INSERT INTO events (ts, payload) VALUES (?, ?)");
  const batch = db.transaction((from: number) => {
    for (let i = from; i < from + 1000; i++) insert.run(Date.now(), payload(i));
  });
  try {
    return await measure("SQLite WAL synchronous=NORMAL, 1000 rows/txn", records, async () => {
      for (let i = 0; i < records; i += 1000) batch(i);
    });
  } finally {
    db.close();
  }
}

/**
 * The ceiling for durable appends from many concurrent appenders: one shared log file, group
 * commit with no linger (every append that arrived while a write + fdatasync ran goes out in the
 * next one), each append acknowledged after the fdatasync covering it. Nothing encoded, no
 * per-stream files: what a commit log shared by all streams could at best do on this disk.
 */
export async function sharedLogGroupCommit(
  dir: string,
  appenders: number,
  seconds: number,
): Promise<Result> {
  const fd = fs.openSync(join(dir, "shared.log"), "w");
  const body = Buffer.from(payload(0));
  let position = 0;
  let waiting: Array<() => void> = [];
  let running = false;
  const commit = async () => {
    running = true;
    while (waiting.length > 0) {
      const group = waiting;
      waiting = [];
      await writev(
        fd,
        Array.from({ length: group.length }, () => body),
        position,
      );
      position += group.length * body.byteLength;
      await fdatasync(fd);
      for (const done of group) done();
    }
    running = false;
  };
  const append = () =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (!running) void commit();
    });
  let count = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  try {
    await Promise.all(
      Array.from({ length: appenders }, async () => {
        while (performance.now() < deadline) {
          await append();
          count++;
        }
      }),
    );
  } finally {
    fs.closeSync(fd);
  }
  const elapsed = (performance.now() - start) / 1000;
  const result: Result = {
    name: `raw shared log, group commit, ${appenders} concurrent appenders`,
    records: count,
    seconds: elapsed,
    perSecond: count / elapsed,
  };
  process.stderr.write(`  ${result.name}: ${(result.perSecond / 1000).toFixed(1)}k/s\n`);
  return result;
}
