/**
 * What the admin views show of a JetStream-backed stream that JetStream cannot answer cheaply:
 * how many records it holds and their payload bytes (a message carries several records, and
 * per-subject byte counts are not kept), its first record and its last append. Counted in
 * memory as this process's stream object publishes and catches up: it opens at the stream's
 * start and its first sync reads every message, so the counts are exact from then on, for this
 * incarnation (a delete ends the object).
 */
export class StreamFigures {
  records = 0;
  bytes = 0;
  /** Position of the first record, or undefined before there is one. */
  firstPosition: number | undefined;
  lastAppendAt: number | null = null;

  /** Records `count` with `bytes` of payload, the first at `position`, committed at `atMs`. */
  add(count: number, bytes: number, position: number, atMs: number): void {
    if (count === 0) return;
    this.records += count;
    this.bytes += bytes;
    this.firstPosition ??= position;
    this.lastAppendAt = atMs;
  }
}
