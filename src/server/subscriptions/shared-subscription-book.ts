/**
 * The subscription book of servers sharing one store (JetStream; subscription-book.ts): each
 * subscription is one shared record, its whole state as JSON (configuration, links with their
 * acknowledged positions, generation, the wake in progress with its lease and holder, the digests
 * of its recent tokens). A change reads the record, decides, and writes it back by
 * compare-and-set; a process that lost the race reads again and decides again, so two processes
 * can never both claim one wake, or both make generation 5. What this process last heard of
 * every subscription is kept for matching appends against patterns; requests read the record.
 */
import { TidemarkError } from "../../errors.js";
import type { SharedRecords } from "../store/stream-store.js";
import type {
  SubscriptionBook,
  SubscriptionChange,
  SubscriptionState,
  WakeState,
} from "./subscription-book.js";
import { fromJson, type SubscriptionJson, toJson } from "./subscription-log.js";

/** Compare-and-set rounds lost in a row before a change gives up (STORE_CONFLICT, retryable). */
const ATTEMPTS_MAX = 32;
const PAUSE_MAX_MS = 20;
/** A write heard before it is stored: read again after 5, 10, 20… ms, for up to about 1 s. */
const REFRESH_PAUSE_FIRST_MS = 5;
const REFRESH_PATIENCE_MS = 1000;

interface RecordJson {
  v: 1;
  sub: SubscriptionJson;
  wake: WakeState | null;
  tokens: string[];
}

type ChangeListener = (id: string, state: SubscriptionState | undefined, isNew: boolean) => void;

interface Known {
  state: SubscriptionState;
  revision: number;
}

export class SharedSubscriptionBook implements SubscriptionBook {
  private readonly cache = new Map<string, Known>();
  private readonly listeners: ChangeListener[] = [];
  private readonly refreshing = new Map<string, Promise<void>>();
  /** Per subscription being refreshed: the revision a write heard of was made against. */
  private readonly awaited = new Map<string, number>();
  private unwatch: () => void = () => undefined;

  private constructor(private readonly records: SharedRecords) {}

  static async open(records: SharedRecords): Promise<SharedSubscriptionBook> {
    const book = new SharedSubscriptionBook(records);
    // Watching first: a change made while the list is read is heard, not missed.
    book.unwatch = records.watch((id, after) => book.refresh(id, after));
    for (const [id, record] of await records.list()) {
      const state = decode(record.value);
      if (state !== undefined) book.cache.set(id, { state, revision: record.revision });
    }
    return book;
  }

  *known(): IterableIterator<SubscriptionState> {
    for (const known of this.cache.values()) yield known.state;
  }

  get size(): number {
    return this.cache.size;
  }

  async get(id: string): Promise<SubscriptionState | undefined> {
    const record = await this.records.get(id);
    const state = decode(record.value);
    this.remember(id, state, record.revision);
    return state;
  }

  async update(id: string, change: SubscriptionChange): Promise<SubscriptionState | undefined> {
    for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
      const record = await this.records.get(id);
      const current = decode(record.value);
      const before = current === undefined ? undefined : encode(current);
      const next = change(current);
      const after = next === undefined ? undefined : encode(next);
      if (after === before) {
        this.remember(id, decode(record.value), record.revision);
        return next;
      }
      const bytes = after === undefined ? undefined : Buffer.from(after, "utf8");
      if (bytes !== undefined && bytes.byteLength > this.records.valueBytesMax) {
        throw new TidemarkError(
          "TOO_MANY_STREAMS",
          `on a shared store a subscription is kept in one message of at most ${this.records.valueBytesMax} bytes; with ${next!.stored.links.size} streams this one would take ${bytes.byteLength}`,
        );
      }
      const revision = await this.records.put(id, bytes, record.revision);
      if (revision !== undefined) {
        this.remember(id, next === undefined ? undefined : decode(bytes), revision);
        return next;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.random() * PAUSE_MAX_MS));
    }
    throw new TidemarkError(
      "STORE_CONFLICT",
      `subscription ${id} kept being changed by other processes: try again`,
    );
  }

  onChange(changed: ChangeListener): void {
    this.listeners.push(changed);
  }

  close(): void {
    this.unwatch();
  }

  /**
   * Another process may have written `id` (against revision `after`): read it, and tell the
   * listeners if it is newer. The write is heard before it is stored, so a read that finds
   * `after` or older is tried again, a little later, for up to about a second (then the write
   * was refused: the one that won is heard of on its own).
   */
  private refresh(id: string, after: number): void {
    this.awaited.set(id, Math.max(after, this.awaited.get(id) ?? 0));
    if (this.refreshing.has(id)) return;
    const running = (async () => {
      let pauseMs = REFRESH_PAUSE_FIRST_MS;
      for (let waited = 0; ; waited += pauseMs, pauseMs *= 2) {
        const wanted = this.awaited.get(id) ?? 0;
        const record = await this.records.get(id);
        const known = this.cache.get(id);
        if (known === undefined || known.revision < record.revision) {
          const state = decode(record.value);
          this.remember(id, state, record.revision);
          for (const listener of this.listeners) listener(id, state, known === undefined);
        }
        if (record.revision > wanted || waited >= REFRESH_PATIENCE_MS) break;
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
      this.awaited.delete(id);
    })()
      .catch(() => {
        // NATS is away: the next change heard, or the next request, reads the record again.
        this.awaited.delete(id);
      })
      .finally(() => this.refreshing.delete(id));
    this.refreshing.set(id, running);
  }

  private remember(id: string, state: SubscriptionState | undefined, revision: number): void {
    const known = this.cache.get(id);
    if (known !== undefined && known.revision > revision) return;
    if (state === undefined) this.cache.delete(id);
    else this.cache.set(id, { state, revision });
  }
}

function encode(state: SubscriptionState): string {
  const json: RecordJson = {
    v: 1,
    sub: toJson(state.stored),
    wake: state.wake,
    tokens: state.tokens,
  };
  return JSON.stringify(json);
}

function decode(value: Uint8Array | undefined): SubscriptionState | undefined {
  if (value === undefined) return undefined;
  let json: RecordJson;
  try {
    json = JSON.parse(Buffer.from(value).toString("utf8")) as RecordJson;
  } catch (err) {
    throw new TidemarkError("CORRUPT", "a shared subscription record is not JSON", {}, err);
  }
  if (json.v !== 1) {
    throw new TidemarkError(
      "CORRUPT",
      `a shared subscription record has version ${String(json.v)}`,
    );
  }
  return { stored: fromJson(json.sub), wake: json.wake, tokens: json.tokens };
}
