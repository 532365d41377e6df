/**
 * One writer process per journal (docs/format.md §8), without native locking: the lock is a
 * sequence of epochs in `lock/`. The holder of the highest `writer.<epoch>` file owns the journal
 * while its process lives; `link()` of a fully written and synced claim makes each claim atomic,
 * and a second listing after the claim settles races between openers that saw different pictures.
 *
 * A crash at any point must not leave the lock looking held: the claim's bytes are synced before
 * the claim is linked into place, and a claim that is empty or does not parse (what a file
 * system that lost the unsynced bytes of a claim would show) is a dead holder's, like one made
 * by a process that is gone or in an earlier boot of the machine. Every file goes through the
 * journal's `FileSystem`, so the simulated disk of the power-loss tests sees the lock too.
 *
 * This works across processes on one host, which is the only case tidemark supports (a journal
 * on a network file system shared by two hosts is refused by liveness checks it cannot make).
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { isErrnoCode, JournalLockedError } from "../../errors.js";
import { readSmallFile, removeFile, writeFully } from "../fs/file-ops.js";
import type { FileSystem } from "../fs/file-system.js";

const WRITER_PREFIX = "writer.";
const RELEASED_PREFIX = "released.";
const CLAIM_PREFIX = ".claim-";
const EPOCH_DIGITS = 20;
/** Claims retried when racing openers keep winning; each retry means someone made progress. */
const CLAIM_ATTEMPTS_MAX = 50;
const CLAIM_BYTES_MAX = 4096;

export interface LockHolder {
  pid: number;
  procStart: string | null;
  host: string;
  /** The kernel's boot id when the claim was made: a claim from another boot is dead. */
  boot: string | null;
  openedAtMs: number;
}

export interface WriterLockOptions {
  /** Identifies this boot of the machine (default: /proc/sys/kernel/random/boot_id). Tests of
   * power loss pass one per simulated boot. */
  bootId?: string;
}

interface EpochFile {
  epoch: number;
  released: boolean;
  name: string;
}

export class WriterLock {
  private constructor(
    private readonly fs: FileSystem,
    private readonly lockDir: string,
    readonly epoch: number,
  ) {}

  static async acquire(
    fs: FileSystem,
    journalDir: string,
    options: WriterLockOptions = {},
  ): Promise<WriterLock> {
    const lockDir = join(journalDir, "lock");
    try {
      await fs.mkdir(lockDir);
      await fs.syncDir(journalDir);
    } catch (err) {
      if (!isErrnoCode(err, "EEXIST")) throw err;
    }
    const me: LockHolder = {
      pid: process.pid,
      procStart: await procStart(process.pid),
      host: hostname(),
      boot: options.bootId ?? (await bootId()),
      openedAtMs: Date.now(),
    };
    const claim = join(lockDir, `${CLAIM_PREFIX}${process.pid}-${randomBytes(6).toString("hex")}`);
    const bytes = Buffer.from(JSON.stringify(me));
    await writeClaim(fs, claim, bytes);
    try {
      for (let attempt = 0; attempt < CLAIM_ATTEMPTS_MAX; attempt++) {
        const top = highest(await listEpochs(fs, lockDir));
        if (top !== undefined && !top.released) {
          const holder = await readHolder(fs, join(lockDir, top.name));
          if (holder === "gone") continue;
          // A torn or empty claim is what a crash before its bytes reached the disk leaves.
          if (holder !== "torn" && (await isAlive(holder, me))) {
            throw lockedError(journalDir, holder);
          }
        }
        const epoch = (top?.epoch ?? 0) + 1;
        const name = epochName(WRITER_PREFIX, epoch);
        try {
          await fs.link(claim, join(lockDir, name));
        } catch (err) {
          if (isErrnoCode(err, "EEXIST")) continue;
          // The winner of a race tidied our claim away: write it again; the next listing shows
          // the winner, alive.
          if (isErrnoCode(err, "ENOENT")) {
            await writeClaim(fs, claim, bytes);
            continue;
          }
          throw err;
        }
        // A racer with an older picture may have claimed a lower epoch, or someone a higher one.
        const after = highest(await listEpochs(fs, lockDir));
        if (after?.epoch !== epoch) {
          await removeFile(fs, join(lockDir, name));
          continue;
        }
        await fs.syncDir(lockDir);
        await tidy(fs, lockDir, epoch, claim);
        return new WriterLock(fs, lockDir, epoch);
      }
      throw new JournalLockedError(
        `could not claim the writer lock of ${journalDir}: too many concurrent openers`,
        { path: journalDir },
      );
    } finally {
      await removeFile(fs, claim);
    }
  }

  /** Marks the lock released; the next opener takes the next epoch. */
  async release(): Promise<void> {
    try {
      await this.fs.rename(
        join(this.lockDir, epochName(WRITER_PREFIX, this.epoch)),
        join(this.lockDir, epochName(RELEASED_PREFIX, this.epoch)),
      );
    } catch (err) {
      if (!isErrnoCode(err, "ENOENT")) throw err;
    }
  }
}

const epochName = (prefix: string, epoch: number) =>
  prefix + String(epoch).padStart(EPOCH_DIGITS, "0");

/** Writes the claim and syncs it, so that once it is linked into place its bytes are on disk. */
async function writeClaim(fs: FileSystem, path: string, bytes: Uint8Array): Promise<void> {
  const file = await fs.open(path, "replace");
  try {
    await writeFully(file, bytes, 0);
    await file.datasync();
  } finally {
    await file.close();
  }
}

function lockedError(journalDir: string, holder: LockHolder): JournalLockedError {
  return new JournalLockedError(
    `the journal at ${journalDir} is open for writing by process ${holder.pid} on ${holder.host}; ` +
      "close it there, or open this one with { readOnly: true }",
    { path: journalDir, holderPid: holder.pid, holderHost: holder.host },
  );
}

async function listEpochs(fs: FileSystem, lockDir: string): Promise<EpochFile[]> {
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

/** Once the lock is ours: lower epochs go, and claims other openers (or crashes) left behind. */
async function tidy(fs: FileSystem, lockDir: string, epoch: number, mine: string): Promise<void> {
  for (const name of await fs.readdir(lockDir)) {
    const path = join(lockDir, name);
    if (name.startsWith(CLAIM_PREFIX) && path !== mine) await removeFile(fs, path);
  }
  for (const file of await listEpochs(fs, lockDir)) {
    if (file.epoch < epoch) await removeFile(fs, join(lockDir, file.name));
  }
}

async function readHolder(fs: FileSystem, path: string): Promise<LockHolder | "gone" | "torn"> {
  let text: string;
  try {
    text = (await readSmallFile(fs, path, CLAIM_BYTES_MAX)).toString("utf8");
  } catch (err) {
    if (isErrnoCode(err, "ENOENT")) return "gone";
    if ((err as NodeJS.ErrnoException).code !== undefined) throw err;
    return "torn"; // larger than any claim: not one a holder wrote
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockHolder>;
    if (typeof parsed.pid !== "number" || typeof parsed.host !== "string") return "torn";
    return {
      pid: parsed.pid,
      procStart: typeof parsed.procStart === "string" ? parsed.procStart : null,
      host: parsed.host,
      boot: typeof parsed.boot === "string" ? parsed.boot : null,
      openedAtMs: typeof parsed.openedAtMs === "number" ? parsed.openedAtMs : 0,
    };
  } catch {
    return "torn";
  }
}

/** A holder on another host cannot be checked, so it counts as alive. */
async function isAlive(holder: LockHolder, me: LockHolder): Promise<boolean> {
  if (holder.host !== me.host) return true;
  // The machine rebooted since the claim (a power loss, say): its process is gone.
  if (holder.boot !== null && me.boot !== null && holder.boot !== me.boot) return false;
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

/** The kernel's id of this boot, or null where there is no /proc. */
async function bootId(): Promise<string | null> {
  try {
    return (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim() || null;
  } catch {
    return null;
  }
}

/** State and start time (field 22, clock ticks since boot) from /proc/<pid>/stat. */
async function readProcStat(pid: number): Promise<{ state: string; start: string } | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, "utf8");
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
