/**
 * The newest messages of a stream with live readers, kept in memory as they commit. When an
 * append wakes a thousand SSE and long-poll readers of one stream, each finds the new messages
 * here instead of reading them back from the disk. Bounded per stream and across the server (a
 * shared budget); large messages are not kept. Readers that ask for anything older, or find the
 * cache cleared, read from the journal as usual.
 */

export class RecentBudget {
  used = 0;
  constructor(readonly bytesMax: number) {}
}

export interface RecentRead {
  parts: Uint8Array[];
  bytes: number;
  end: number;
}

export class RecentMessages {
  private payloads: Uint8Array[] = [];
  /** Index in `payloads` of the oldest message still kept. */
  private head = 0;
  /** Position of `payloads[head]`. */
  private firstPosition = 0;
  private bytes = 0;

  constructor(
    private readonly budget: RecentBudget,
    /** Most bytes kept for this stream; a message larger than a quarter of it is not kept. */
    private readonly bytesMax: number,
  ) {}

  private get size(): number {
    return this.payloads.length - this.head;
  }

  /** The position after the newest message kept (0 when empty). */
  private get lastPosition(): number {
    return this.size === 0 ? 0 : this.firstPosition + this.size - 1;
  }

  /** Records the message committed at `position`. Messages must come in position order. */
  add(position: number, payload: Uint8Array): void {
    const size = payload.byteLength;
    if ((this.size > 0 && position !== this.lastPosition + 1) || size > this.bytesMax / 4) {
      this.clear();
      return;
    }
    while (
      this.size > 0 &&
      (this.bytes + size > this.bytesMax || this.budget.used + size > this.budget.bytesMax)
    ) {
      this.dropOldest();
    }
    if (this.budget.used + size > this.budget.bytesMax) return;
    if (this.size === 0) {
      this.payloads = [];
      this.head = 0;
      this.firstPosition = position;
    }
    this.payloads.push(payload);
    this.bytes += size;
    this.budget.used += size;
  }

  /**
   * The messages after `from` up to `stop`, at most `bytesMax` of them (at least one), when all
   * of them are kept; `undefined` when the read must go to the journal.
   */
  after(from: number, stop: number, bytesMax: number): RecentRead | undefined {
    if (this.size === 0 || from + 1 < this.firstPosition || stop > this.lastPosition) {
      return undefined;
    }
    const out: RecentRead = { parts: [], bytes: 0, end: from };
    for (let at = from + 1; at <= stop; at++) {
      const payload = this.payloads[this.head + at - this.firstPosition]!;
      out.parts.push(payload);
      out.bytes += payload.byteLength;
      out.end = at;
      if (out.bytes >= bytesMax) break;
    }
    return out;
  }

  clear(): void {
    this.budget.used -= this.bytes;
    this.payloads = [];
    this.head = 0;
    this.bytes = 0;
  }

  private dropOldest(): void {
    const payload = this.payloads[this.head]!;
    this.payloads[this.head] = EMPTY;
    this.head++;
    this.firstPosition++;
    this.bytes -= payload.byteLength;
    this.budget.used -= payload.byteLength;
    if (this.head > 1024 && this.head * 2 > this.payloads.length) {
      this.payloads = this.payloads.slice(this.head);
      this.head = 0;
    }
  }
}

const EMPTY = new Uint8Array(0);
