/**
 * Where `export` writes: a file, or stdout for `-`. Bytes are gathered into a 1 MiB chunk that
 * callers encode into directly, and each full chunk is written before the next is filled (a slow
 * pipe holds the exporter back; memory stays flat). It keeps the CRC-32 of everything written,
 * which the archive end carries (docs/format.md §15).
 */
import { createWriteStream } from "node:fs";
import type { Writable } from "node:stream";
import { crc32Continue } from "../../format/archive.js";

const CHUNK_BYTES = 1024 * 1024;

export class ByteSink {
  /** The chunk being filled: callers write at `used` after `ensure`, then `advance`. */
  buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  used = 0;
  /** Bytes written out so far (the chunk not included). */
  private flushedBytes = 0;
  private crc = 0;
  private failure: Error | undefined;

  private constructor(
    private readonly out: Writable,
    private readonly ownsOut: boolean,
  ) {
    out.on("error", (err: Error) => {
      this.failure = err;
    });
  }

  /** `-` is stdout; anything else is a file, created or replaced. */
  static open(target: string): ByteSink {
    if (target === "-") return new ByteSink(process.stdout, false);
    return new ByteSink(createWriteStream(target, { flags: "w" }), true);
  }

  /** Every byte handed over so far. */
  get bytes(): number {
    return this.flushedBytes + this.used;
  }

  /** CRC-32 of every byte handed over so far. */
  get checksum(): number {
    return crc32Continue(this.buffer.subarray(0, this.used), this.crc);
  }

  /** Makes room for `bytes` at `used`; returns a promise only when a chunk had to go out. */
  ensure(bytes: number): Promise<void> | undefined {
    if (this.used + bytes <= this.buffer.byteLength) return undefined;
    return this.flush().then(() => {
      if (bytes > this.buffer.byteLength) this.buffer = Buffer.allocUnsafe(bytes);
    });
  }

  advance(bytes: number): void {
    this.used += bytes;
  }

  /** Copies `bytes` in; returns a promise only when a chunk had to go out (await it). */
  write(bytes: Uint8Array): Promise<void> | undefined {
    const room = this.ensure(bytes.byteLength);
    if (room !== undefined) return room.then(() => this.copy(bytes));
    this.copy(bytes);
    return undefined;
  }

  /** Writes what is gathered and ends the output (a file is closed; stdout stays open). */
  async close(): Promise<void> {
    await this.flush();
    if (this.ownsOut) {
      await new Promise<void>((resolve, reject) => {
        this.out.once("error", reject);
        this.out.end(() => resolve());
      });
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /** Writes the chunk out and waits until it is written, so the chunk can be reused. */
  async flush(): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (this.used === 0) return;
    const full = this.buffer.subarray(0, this.used);
    this.crc = crc32Continue(full, this.crc);
    this.flushedBytes += this.used;
    this.used = 0;
    await new Promise<void>((resolve, reject) => {
      this.out.write(full, (err) => (err ? reject(err) : resolve()));
    });
  }

  private copy(bytes: Uint8Array): void {
    this.buffer.set(bytes, this.used);
    this.used += bytes.byteLength;
  }
}
