/**
 * What `import` reads: a file, or stdin for `-`, as a window of bytes that parsers read from
 * synchronously and refill only when they run out, so a million small records cost a few hundred
 * reads, not a million promises. It knows the absolute position of every byte (errors name it)
 * and keeps the CRC-32 of the bytes consumed (the archive end checks it, docs/format.md §15).
 */
import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { crc32Continue } from "../../format/archive.js";

const READ_BYTES = 1024 * 1024;

export class ByteSource {
  /** The window: unread bytes are `buf[pos, end)`. */
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  /** Absolute position of `buf[0]` in the input. */
  private base = 0;
  /** Absolute position up to which the CRC is computed. */
  private crcAt = 0;
  private crc = 0;
  private readonly chunks: AsyncIterator<Buffer>;
  private done = false;

  private constructor(input: Readable) {
    this.chunks = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  static open(path: string): ByteSource {
    if (path === "-") return new ByteSource(process.stdin);
    return new ByteSource(createReadStream(path, { highWaterMark: READ_BYTES }));
  }

  /** Unread bytes in the window. */
  get available(): number {
    return this.buf.byteLength - this.pos;
  }

  /** Absolute input position of the next unread byte. */
  get position(): number {
    return this.base + this.pos;
  }

  /** True at the end of the input with nothing left unread. */
  get exhausted(): boolean {
    return this.done && this.available === 0;
  }

  /** Reads until `bytes` are unread in the window or the input ends; false if it ended first. */
  async fill(bytes: number): Promise<boolean> {
    while (this.available < bytes && !this.done) {
      const next = await this.chunks.next();
      if (next.done === true) {
        this.done = true;
        break;
      }
      this.keepCrc();
      const rest = this.buf.subarray(this.pos);
      this.base += this.pos;
      this.buf = rest.byteLength === 0 ? next.value : Buffer.concat([rest, next.value]);
      this.pos = 0;
    }
    return this.available >= bytes;
  }

  /** CRC-32 of the input up to the next unread byte. */
  checksum(): number {
    this.keepCrc();
    return this.crc;
  }

  /** Stops reading (the input is closed). */
  async close(): Promise<void> {
    await this.chunks.return?.();
  }

  private keepCrc(): void {
    const from = this.crcAt - this.base;
    if (this.pos > from) this.crc = crc32Continue(this.buf.subarray(from, this.pos), this.crc);
    this.crcAt = this.base + this.pos;
  }
}
