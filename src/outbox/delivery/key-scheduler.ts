/**
 * Which entry goes next. Entries with the same key wait in line, in enqueue order; only the head
 * of a line is ever attempted, and only one attempt per key is in flight. Keys whose head is
 * ready take turns in the order they became ready; a head that failed waits in a heap until its
 * retry time. Every operation is O(log n) or better (amortized), so 100,000 keys cost nothing
 * to skip. (Ready keys are a queue, not a Set taken from its front: V8 leaves deleted entries
 * as holes that every new iterator walks over.)
 */
import type { PendingEntry } from "../store/outbox-store.js";

interface Waiting {
  at: number;
  key: string;
}

export class KeyScheduler {
  private readonly lines = new Map<string, PendingEntry[]>();
  /** Keys whose head can be attempted now, in the order they became ready: `queue` from
   * `head` on, `ready` for membership. */
  private readonly ready = new Set<string>();
  private queue: string[] = [];
  private head = 0;
  /** Keys whose head waits for its retry time (a min-heap by `at`). */
  private readonly waiting: Waiting[] = [];

  get keys(): number {
    return this.lines.size;
  }

  /** Adds an entry at the end of its key's line. */
  add(key: string, entry: PendingEntry): void {
    const line = this.lines.get(key);
    if (line !== undefined) {
      line.push(entry);
      return;
    }
    this.lines.set(key, [entry]);
    this.makeReady(key);
  }

  /** The next ready key and its head; the key is then in flight until `settled` or `later`. */
  take(): { key: string; entry: PendingEntry } | undefined {
    while (this.head < this.queue.length) {
      const key = this.queue[this.head++]!;
      this.ready.delete(key);
      if (this.head >= 4096 && this.head * 2 >= this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      const entry = this.lines.get(key)?.[0];
      if (entry !== undefined) return { key, entry };
    }
    return undefined;
  }

  /** The head of `key` is resolved: the next in line becomes ready. */
  settled(key: string): void {
    const line = this.lines.get(key);
    if (line === undefined) return;
    line.shift();
    if (line.length === 0) this.lines.delete(key);
    else this.makeReady(key);
  }

  /** The head of `key` is to be attempted again at `at`. */
  later(key: string, at: number): void {
    this.waiting.push({ at, key });
    this.up(this.waiting.length - 1);
  }

  /** The head of `key` goes back to the ready keys at once (an attempt cut short by stop). */
  again(key: string): void {
    if (this.lines.has(key)) this.makeReady(key);
  }

  /** Moves keys whose time has come to the ready ones; returns when the next one is due. */
  due(now: number): number | undefined {
    while (this.waiting.length > 0 && this.waiting[0]!.at <= now) {
      const { key } = this.pop();
      if (this.lines.has(key)) this.makeReady(key);
    }
    return this.waiting[0]?.at;
  }

  private makeReady(key: string): void {
    if (this.ready.has(key)) return;
    this.ready.add(key);
    this.queue.push(key);
  }

  get hasReady(): boolean {
    return this.ready.size > 0;
  }

  private pop(): Waiting {
    const top = this.waiting[0]!;
    const last = this.waiting.pop()!;
    if (this.waiting.length > 0) {
      this.waiting[0] = last;
      this.down(0);
    }
    return top;
  }

  private up(index: number): void {
    const heap = this.waiting;
    let i = index;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= heap[i]!.at) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  private down(index: number): void {
    const heap = this.waiting;
    let i = index;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && heap[left]!.at < heap[smallest]!.at) smallest = left;
      if (right < heap.length && heap[right]!.at < heap[smallest]!.at) smallest = right;
      if (smallest === i) return;
      [heap[smallest], heap[i]] = [heap[i]!, heap[smallest]!];
      i = smallest;
    }
  }
}
