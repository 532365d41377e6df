/**
 * One writer process per journal (docs/format.md §8), without native locking: the lock is a
 * sequence of epochs in `lock/`. The holder of the highest `writer.<epoch>` file owns the journal
 * while its process lives; `link()` of a fully written temp file makes each claim atomic, and a
 * second listing after the claim settles races between openers that saw different pictures.
 *
 * This works across processes on one host, which is the only case tidemark supports (a journal
 * on a network file system shared by two hosts is refused by liveness checks it cannot make).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { isErrnoCode, JournalLockedError } from "../../errors.js";

const WRITER_PREFIX = "writer.";
const RELEASED_PREFIX = "released.";
const EPOCH_DIGITS = 20;
/** Claims retried when racing openers keep winning; each retry means someone made progress. */
const CLAIM_ATTEMPTS_MAX = 50;

export interface LockHolder {
  pid: number;
  procStart: string | null;
  host: string;
  openedAtMs: number;
}

interface EpochFile {
  epoch: number;
  released: boolean;
  name: string;
}

export class WriterLock {
  private constructor(
    private readonly lockDir: string,
    readonly epoch: number,
  ) {}

  static async acquire(journalDir: string): Promise<WriterLock> {
    const lockDir = join(journalDir, "lock");
    await fs.mkdir(lockDir, { recursive: true });
    const me: LockHolder = {
      pid: process.pid,
      procStart: await procStart(process.pid),
      host: hostname(),
      openedAtMs: Date.now(),
    };
    const tmp = join(lockDir, `.claim-${process.pid}-${randomBytes(6).toString("hex")}`);
    await fs.writeFile(tmp, JSON.stringify(me));
    try {
      for (let attempt = 0; attempt < CLAIM_ATTEMPTS_MAX; attempt++) {
        const top = highest(await listEpochs(lockDir));
        if (top !== undefined && !top.released) {
          const holder = await readHolder(join(lockDir, top.name));
          if (holder === "gone") continue;
          if (holder === "unreadable" || (await isAlive(holder))) {
            throw lockedError(journalDir, holder === "unreadable" ? undefined : holder);
          }
        }
        const epoch = (top?.epoch ?? 0) + 1;
        const name = WRITER_PREFIX + String(epoch).padStart(EPOCH_DIGITS, "0");
        try {
          await fs.link(tmp, join(lockDir, name));
        } catch (err) {
          if (isErrnoCode(err, "EEXIST")) continue;
          throw err;
        }
        // A racer with an older picture may have claimed a lower epoch, or someone a higher one.
        const after = highest(await listEpochs(lockDir));
        if (after?.epoch !== epoch) {
          await fs.rm(join(lockDir, name), { force: true });
          continue;
        }
        await removeLowerEpochs(lockDir, epoch);
        return new WriterLock(lockDir, epoch);
      }
      throw new JournalLockedError(
        `could not claim the writer lock of ${journalDir}: too many concurrent openers`,
        { path: journalDir },
      );
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  /** Marks the lock released; the next opener takes the next epoch. */
  async release(): Promise<void> {
    const suffix = String(this.epoch).padStart(EPOCH_DIGITS, "0");
    try {
      await fs.rename(
        join(this.lockDir, WRITER_PREFIX + suffix),
        join(this.lockDir, RELEASED_PREFIX + suffix),
      );
    } catch (err) {
      if (!isErrnoCode(err, "ENOENT")) throw err;
    }
  }
}

function lockedError(journalDir: string, holder: LockHolder | undefined): JournalLockedError {
  const who = holder === undefined ? "another process" : `process ${holder.pid} on ${holder.host}`;
  return new JournalLockedError(
    `the journal at ${journalDir} is open for writing by ${who}; ` +
      "close it there, or open this one with { readOnly: true }",
    {
      path: journalDir,
      ...(holder === undefined ? {} : { holderPid: holder.pid, holderHost: holder.host }),
    },
  );
}

async function listEpochs(lockDir: string): Promise<EpochFile[]> {
  const files: EpochFile[] = [];
  for (const name of await fs.readdir(lockDir)) {
    const released = name.startsWith(RELEASED_PREFIX);
    if (!released && !name.startsWith(WRITER_PREFIX)) continue;
    const digits = name.slice(released ? RELEASED_PREFIX.length : WRITER_PREFIX.length);
    if (!/^\d{20}$/.test(digits)) continue;
    files.push({ epoch: Number(digits), released, name });
  }
  return files;
}

function highest(files: EpochFile[]): EpochFile | undefined {
  let top: EpochFile | undefined;
  for (const file of files) {
    // A released file and a writer file of one epoch cannot coexist; prefer the writer if so.
    if (
      top === undefined ||
      file.epoch > top.epoch ||
      (file.epoch === top.epoch && !file.released)
    ) {
      top = file;
    }
  }
  return top;
}

async function removeLowerEpochs(lockDir: string, epoch: number): Promise<void> {
  for (const file of await listEpochs(lockDir)) {
    if (file.epoch < epoch) await fs.rm(join(lockDir, file.name), { force: true });
  }
}

async function readHolder(path: string): Promise<LockHolder | "gone" | "unreadable"> {
  let text: string;
  try {
    text = await fs.readFile(path, "utf8");
  } catch (err) {
    if (isErrnoCode(err, "ENOENT")) return "gone";
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockHolder>;
    if (typeof parsed.pid !== "number" || typeof parsed.host !== "string") return "unreadable";
    return {
      pid: parsed.pid,
      procStart: typeof parsed.procStart === "string" ? parsed.procStart : null,
      host: parsed.host,
      openedAtMs: typeof parsed.openedAtMs === "number" ? parsed.openedAtMs : 0,
    };
  } catch {
    return "unreadable";
  }
}

/** A holder on another host cannot be checked, so it counts as alive. */
async function isAlive(holder: LockHolder): Promise<boolean> {
  if (holder.host !== hostname()) return true;
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if (isErrnoCode(err, "ESRCH")) return false;
    // EPERM: the process exists but belongs to someone else.
  }
  const stat = await readProcStat(holder.pid);
  if (stat === undefined) return true; // no /proc: the pid check is all we have
  if (stat.state === "Z" || stat.state === "X") return false;
  return holder.procStart === null || stat.start === holder.procStart;
}

async function procStart(pid: number): Promise<string | null> {
  return (await readProcStat(pid))?.start ?? null;
}

/** State and start time (field 22, clock ticks since boot) from /proc/<pid>/stat. */
async function readProcStat(pid: number): Promise<{ state: string; start: string } | undefined> {
  let text: string;
  try {
    text = await fs.readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces: split after it.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const start = fields[19];
  if (state === undefined || start === undefined) return undefined;
  return { state, start };
}
