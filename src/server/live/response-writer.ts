/**
 * Writing a long response body with bounded memory: small payloads are copied into 64 KiB
 * chunks (one socket write per chunk, not per message), large ones are written as they are
 * (views into the reader's buffer, no copy), and `settled()` waits until every view has been
 * taken by the socket and the socket is below its high-water mark. Chunks come from a small pool
 * and go back to it once the socket has taken them, so a catch-up of gigabytes makes no garbage.
 */
import type { ServerResponse } from "node:http";

const CHUNK_BYTES = 64 * 1024;
/** Payloads at least this large are written without a copy. */
const VIEW_BYTES_MIN = 16 * 1024;
/** Chunks kept for reuse across responses. */
const POOLED_CHUNKS_MAX = 64;

const pool: Buffer[] = [];

function takeChunk(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES);
}

function giveChunk(chunk: Buffer): void {
  if (pool.length < POOLED_CHUNKS_MAX) pool.push(chunk);
}

export class ResponseWriter {
  private chunk = takeChunk();
  private used = 0;
  /** Views handed to the socket and not yet taken by it. */
  private viewsInFlight = 0;
  private waiters: Array<() => void> = [];
  /** Body bytes written. */
  bytes = 0;

  constructor(private readonly res: ServerResponse) {}

  /** Appends `payload` to the body. It must stay unchanged until `settled()` resolves. */
  write(payload: Uint8Array): void {
    const length = payload.byteLength;
    this.bytes += length;
    if (length >= VIEW_BYTES_MIN) {
      this.flush();
      this.viewsInFlight++;
      this.res.write(payload, () => this.viewTaken());
      return;
    }
    if (this.used + length > CHUNK_BYTES) this.flush();
    this.chunk.set(payload, this.used);
    this.used += length;
  }

  /**
   * Resolves once the socket holds every view written so far (their buffer may be reused) and
   * has room for more. A client that went away resolves it too: the caller checks `closed`.
   */
  async settled(): Promise<void> {
    if (this.viewsInFlight > 0 && !this.res.destroyed) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.res.writableNeedDrain && !this.res.destroyed) await drained(this.res);
  }

  get closed(): boolean {
    return this.res.destroyed;
  }

  /** Writes what is buffered and ends the response. */
  end(): void {
    this.flush();
    giveChunk(this.chunk);
    this.res.end();
  }

  private flush(): void {
    if (this.used === 0) return;
    const full = this.chunk;
    this.res.write(full.subarray(0, this.used), () => giveChunk(full));
    this.chunk = takeChunk();
    this.used = 0;
  }

  private viewTaken(): void {
    if (--this.viewsInFlight > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
  });
}
