/**
 * Durable consumer positions of one stream (docs/format.md §11): one small file per consumer in
 * `consumers/`, appended to on every acknowledgement. Positions never move backwards, and an
 * acknowledgement resolves only once written (and synced, under durability 'always'); acks
 * that arrive while one is being written are folded into the next write, as appends are.
 * Every 1,024 entries the file is rewritten atomically with just the latest one.
 */
import { join } from "node:path";
import { fromSystemError, InvalidArgumentError, isErrnoCode, ReadOnlyError } from "../../errors.js";
import {
  CONSUMER_ENTRY_BYTES,
  decodeConsumerFile,
  encodeConsumerEntry,
  encodeConsumerHeader,
} from "../../format/consumer-position.js";
import { readSmallFile, removeFile, writeFileAtomic, writeFully } from "../fs/file-ops.js";
import type { FileHandle, FileSystem } from "../fs/file-system.js";
import type { RecoveryReporter } from "../recovery/recovery-event.js";
import { streamIdentity, validateStreamName } from "./stream-name.js";
import type { StreamState } from "./stream-state.js";

export const CONSUMERS_DIR = "consumers";
const CONSUMER_SUFFIX = ".pos";
const ENTRIES_BEFORE_COMPACTION = 1024;
const CONSUMER_FILE_BYTES_MAX = 1024 * 1024;

interface ConsumerRecord {
  name: string;
  fileName: string;
  position: number;
  ackedAtMs: number | null;
  file: FileHandle | undefined;
  /** File length of the header and valid entries (where the next entry goes); 0: no file yet. */
  length: number;
  entries: number;
  /** The highest seq waiting to be written, and who waits for it. */
  wanted: number | undefined;
  waiters: Array<{ resolve: (position: number) => void; reject: (err: unknown) => void }>;
  writing: boolean;
}

export interface ConsumerStoreOptions {
  fs: FileSystem;
  state: StreamState;
  durable: boolean;
  readOnly: boolean;
  clock: () => number;
  /** Called after a position moved forward (retention 'acked' may release data). */
  onAdvance: () => void;
}

export class ConsumerStore {
  private readonly records = new Map<string, ConsumerRecord>();

  constructor(private readonly options: ConsumerStoreOptions) {}

  /** Reads the positions stored in `consumers/`; damaged files are reported and left alone. */
  async load(report: RecoveryReporter): Promise<void> {
    const { fs, state } = this.options;
    const dir = join(state.dir, CONSUMERS_DIR);
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (err) {
      if (isErrnoCode(err, "ENOENT")) return;
      throw err;
    }
    for (const fileName of names) {
      if (!fileName.endsWith(CONSUMER_SUFFIX)) continue;
      const decoded = decodeConsumerFile(
        await readSmallFile(fs, join(dir, fileName), CONSUMER_FILE_BYTES_MAX),
      );
      if (
        decoded === undefined ||
        `${streamIdentity(decoded.name).dirName}${CONSUMER_SUFFIX}` !== fileName
      ) {
        report({
          kind: "corrupt",
          stream: state.name,
          path: join(CONSUMERS_DIR, fileName),
          message: `consumer file ${fileName} is damaged; left alone, its consumer is not loaded`,
        });
        continue;
      }
      const record = this.newRecord(decoded.name, fileName, decoded.last?.seq ?? 0);
      record.ackedAtMs = decoded.last?.ackedAtMs ?? null;
      record.length = decoded.validBytes;
      record.entries = decoded.entries;
      this.records.set(decoded.name, record);
      state.consumerPositions.set(decoded.name, record.position);
    }
  }

  names(): string[] {
    return [...this.records.keys()].sort();
  }

  has(name: string): boolean {
    return this.records.has(name);
  }

  /** Registers a consumer in memory (durable from its first ack), starting before firstSeq. */
  ensure(name: string): void {
    validateStreamName(name);
    if (this.records.has(name)) return;
    const record = this.newRecord(
      name,
      `${streamIdentity(name).dirName}${CONSUMER_SUFFIX}`,
      this.options.state.firstSeq - 1,
    );
    this.records.set(name, record);
    this.options.state.consumerPositions.set(name, record.position);
  }

  position(name: string): number {
    return this.records.get(name)?.position ?? 0;
  }

  ackedAt(name: string): number | null {
    return this.records.get(name)?.ackedAtMs ?? null;
  }

  ack(name: string, seq: number): Promise<number> {
    const { state, readOnly } = this.options;
    if (readOnly)
      return Promise.reject(new ReadOnlyError(undefined, { stream: state.name, consumer: name }));
    const record = this.records.get(name);
    if (record === undefined) {
      return Promise.reject(
        new InvalidArgumentError(`no consumer ${JSON.stringify(name)}`, { stream: state.name }),
      );
    }
    if (!Number.isSafeInteger(seq) || seq < 0 || seq > state.lastSeq) {
      return Promise.reject(
        new InvalidArgumentError(
          `ack: seq must be an integer from 0 to the last seq ${state.lastSeq}, got ${String(seq)}`,
          {
            stream: state.name,
            consumer: name,
          },
        ),
      );
    }
    // `position` only moves after a write: an ack at or below it is already durable.
    if (seq <= record.position) return Promise.resolve(record.position);
    return new Promise((resolve, reject) => {
      record.wanted = Math.max(record.wanted ?? 0, seq);
      record.waiters.push({ resolve, reject });
      if (!record.writing) void this.flush(record);
    });
  }

  /** Forgets a consumer and deletes its file (it no longer holds data under retention 'acked'). */
  async remove(name: string): Promise<boolean> {
    const record = this.records.get(name);
    if (record === undefined) return false;
    if (this.options.readOnly)
      throw new ReadOnlyError(undefined, { stream: this.options.state.name, consumer: name });
    this.records.delete(name);
    this.options.state.consumerPositions.delete(name);
    await record.file?.close().catch(() => undefined);
    await removeFile(this.options.fs, join(this.options.state.dir, CONSUMERS_DIR, record.fileName));
    this.options.onAdvance();
    return true;
  }

  async close(): Promise<void> {
    for (const record of this.records.values()) {
      const file = record.file;
      record.file = undefined;
      await file?.close().catch(() => undefined);
    }
  }

  private newRecord(name: string, fileName: string, position: number): ConsumerRecord {
    return {
      name,
      fileName,
      position,
      ackedAtMs: null,
      file: undefined,
      length: 0,
      entries: 0,
      wanted: undefined,
      waiters: [],
      writing: false,
    };
  }

  private async flush(record: ConsumerRecord): Promise<void> {
    record.writing = true;
    while (record.wanted !== undefined) {
      const seq = record.wanted;
      const waiters = record.waiters;
      record.wanted = undefined;
      record.waiters = [];
      const ackedAtMs = this.options.clock();
      try {
        await this.write(record, seq, ackedAtMs);
      } catch (err) {
        const error = fromSystemError(
          err,
          `store the position of consumer ${JSON.stringify(record.name)}`,
          {
            stream: this.options.state.name,
          },
        );
        for (const waiter of waiters) waiter.reject(error);
        continue;
      }
      record.position = Math.max(record.position, seq);
      record.ackedAtMs = ackedAtMs;
      if (this.records.get(record.name) === record)
        this.options.state.consumerPositions.set(record.name, record.position);
      for (const waiter of waiters) waiter.resolve(record.position);
      this.options.onAdvance();
    }
    record.writing = false;
  }

  private async write(record: ConsumerRecord, seq: number, ackedAtMs: number): Promise<void> {
    const { fs, state, durable } = this.options;
    const dir = join(state.dir, CONSUMERS_DIR);
    const entry = encodeConsumerEntry({ seq, ackedAtMs });
    if (record.length === 0 || record.entries >= ENTRIES_BEFORE_COMPACTION) {
      // A new file, or a compaction: replace it whole, atomically.
      await this.ensureDir(dir);
      const content = Buffer.concat([encodeConsumerHeader(record.name), entry]);
      const old = record.file;
      record.file = undefined;
      await old?.close().catch(() => undefined);
      await writeFileAtomic(fs, dir, record.fileName, content, durable);
      record.length = content.byteLength;
      record.entries = 1;
      return;
    }
    if (record.file === undefined) {
      record.file = await fs.open(join(dir, record.fileName), "write");
      await record.file.truncate(record.length); // drop a torn entry a crash left
    }
    await writeFully(record.file, entry, record.length);
    if (durable) await record.file.datasync();
    record.length += CONSUMER_ENTRY_BYTES;
    record.entries++;
  }

  private async ensureDir(dir: string): Promise<void> {
    try {
      await this.options.fs.mkdir(dir);
      if (this.options.durable) await this.options.fs.syncDir(this.options.state.dir);
    } catch (err) {
      if (!isErrnoCode(err, "EEXIST")) throw err;
    }
  }
}
