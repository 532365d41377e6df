/**
 * The outbox: hands entries to an upstream exactly once where the upstream allows it, in order
 * per key, and forgets an entry only once the upstream has it, or once the user has dealt with
 * it as a conflict or dead letter. State lives in journal streams (outbox-store.ts).
 *
 * Delivery runs in dispatcher.ts.
 */
import { InvalidArgumentError, NotFoundError, OutboxFullError, ReadOnlyError } from "../errors.js";
import type { Logger } from "../logger.js";
import { checkKnownKeys } from "../options-check.js";
import type { Journal } from "../storage/index.js";
import { BACKOFF_DEFAULTS, type Backoff, type BackoffOptions } from "./delivery/backoff.js";
import { Dispatcher } from "./delivery/dispatcher.js";
import {
  checkEntry,
  checkHeaders,
  checkPrecondition,
  type EntryMeta,
  type OutboxEntryInput,
  type Precondition,
} from "./store/entry.js";
import { heldInfo, type OutboxEntryInfo, pendingInfo } from "./store/entry-info.js";
import {
  type HeldEntry,
  OutboxStore,
  type PendingEntry,
  sequenceKey,
} from "./store/outbox-store.js";
import { positive } from "./upstreams/http-request.js";
import type { Upstream } from "./upstreams/upstream.js";

export type { OutboxEntryInfo } from "./store/entry-info.js";

export interface OutboxOptions {
  upstream: Upstream;
  /** Keys with an attempt in flight at once (default 8). */
  concurrency?: number;
  /** Counted failed attempts after which an entry becomes a dead letter (default 10). */
  attemptsMax?: number;
  /** An entry still failing this long after it was enqueued becomes a dead letter (default: never). */
  ageMsMax?: number;
  backoff?: BackoffOptions;
  /** Pending entries at most; past it `enqueue` fails with OUTBOX_FULL (default 1,000,000). */
  entriesMax?: number;
  /** Largest body accepted by `enqueue` (default 16 MiB, and at most the journal's record size). */
  bodyBytesMax?: number;
  /** How long `stop()` waits for attempts in flight before aborting them (default 10 s). */
  stopTimeoutMs?: number;
  logger?: Logger;
  /** @internal */
  clock?: () => number;
}

export interface OutboxStats {
  name: string;
  upstream: string;
  running: boolean;
  pending: number;
  inFlight: number;
  /** Age of the oldest pending entry (ms since it was first enqueued), or null. */
  oldestPendingAgeMs: number | null;
  /** Since the outbox was opened. */
  delivered: number;
  attempts: number;
  failedAttempts: number;
  conflicts: number;
  deadLetters: number;
  /** The upstream failed several times in a row: one probe per interval until it answers. */
  upstreamDown: boolean;
  lastError: { message: string; at: number; entry: string } | null;
}

export interface RetryOptions {
  /** A new precondition (e.g. the ETag the conflict's answer carried). */
  precondition?: Precondition;
  /** Headers to add or replace. */
  headers?: Record<string, string>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const OUTBOX_OPTION_KEYS = [
  "upstream",
  "concurrency",
  "attemptsMax",
  "ageMsMax",
  "backoff",
  "entriesMax",
  "bodyBytesMax",
  "stopTimeoutMs",
  "logger",
  "clock",
] as const satisfies readonly (keyof OutboxOptions)[];

/** Names of the outboxes open on each journal: one instance per name per journal. */
const openNames = new WeakMap<Journal, Set<string>>();

export class Outbox {
  private readonly clock: () => number;
  private readonly backoff: Backoff;
  private readonly dispatcher: Dispatcher;
  private closed = false;
  private forget: () => void = () => undefined;

  private constructor(
    readonly name: string,
    private readonly store: OutboxStore,
    private readonly upstream: Upstream,
    private readonly options: Required<
      Pick<
        OutboxOptions,
        "concurrency" | "attemptsMax" | "entriesMax" | "bodyBytesMax" | "stopTimeoutMs"
      >
    > & { ageMsMax: number | undefined },
    private readonly logger: Logger | undefined,
    clock: (() => number) | undefined,
    backoff: BackoffOptions | undefined,
    private readonly readOnly: boolean,
  ) {
    this.clock = clock ?? Date.now;
    this.backoff = { ...BACKOFF_DEFAULTS, ...backoff };
    this.dispatcher = new Dispatcher(
      name,
      store,
      upstream,
      options,
      this.backoff,
      this.clock,
      logger,
    );
    store.onWriteError = (err) =>
      this.dispatcher.noteError(`storing outbox state failed: ${String(err)}`, "");
  }

  /**
   * Opens the outbox called `name` on `journal` (creating its streams if they do not exist),
   * delivering to `options.upstream` once started. One instance per name per journal. Close it
   * before the journal (the journal closes the outboxes still open when it closes). On a
   * journal opened read-only, the outbox can be inspected but not started or changed.
   */
  static async open(journal: Journal, name: string, options: OutboxOptions): Promise<Outbox> {
    checkName(name);
    if (options === undefined || typeof options.upstream?.deliver !== "function") {
      throw new InvalidArgumentError("an outbox needs an upstream (e.g. new HttpUpstream(...))");
    }
    checkKnownKeys(options, OUTBOX_OPTION_KEYS, "Outbox.open options");
    checkKnownKeys(options.backoff, ["initialMs", "maxMs"], "backoff");
    const settings = {
      concurrency: positive(options.concurrency, 8, "concurrency"),
      attemptsMax: positive(options.attemptsMax, 10, "attemptsMax"),
      entriesMax: positive(options.entriesMax, 1_000_000, "entriesMax"),
      bodyBytesMax: positive(options.bodyBytesMax, 16 * 1024 * 1024, "bodyBytesMax"),
      stopTimeoutMs: positive(options.stopTimeoutMs, 10_000, "stopTimeoutMs"),
      ageMsMax:
        options.ageMsMax === undefined ? undefined : positive(options.ageMsMax, 0, "ageMsMax"),
    };
    const backoff = { ...BACKOFF_DEFAULTS, ...options.backoff };
    positive(backoff.initialMs, 0, "backoff.initialMs");
    positive(backoff.maxMs, 0, "backoff.maxMs");
    options.upstream.attach?.({ backoffMaxMs: backoff.maxMs });
    const names = openNames.get(journal) ?? new Set<string>();
    openNames.set(journal, names);
    if (names.has(name)) {
      throw new InvalidArgumentError(`outbox ${JSON.stringify(name)} is already open`);
    }
    names.add(name);
    try {
      const readOnly = journal.options.readOnly;
      const store = await OutboxStore.open(journal, name, readOnly);
      const outbox = new Outbox(
        name,
        store,
        options.upstream,
        settings,
        options.logger,
        options.clock,
        options.backoff,
        readOnly,
      );
      const unhook = journal.onClose(() => outbox.close());
      outbox.forget = () => {
        unhook();
        names.delete(name);
      };
      return outbox;
    } catch (err) {
      names.delete(name);
      throw err;
    }
  }

  /** Stores an entry; resolves with its id once it is durable. Delivery starts at once. */
  async enqueue(input: OutboxEntryInput): Promise<string> {
    this.checkWritable();
    const { meta, body } = checkEntry(input, this.options.bodyBytesMax, this.clock());
    if (this.store.pending.size >= this.options.entriesMax) {
      throw new OutboxFullError(
        `outbox ${this.name} holds ${this.options.entriesMax} pending entries (entriesMax)`,
        { outbox: this.name },
      );
    }
    const entry = await this.store.append(meta, body);
    this.dispatcher.add(entry);
    return entry.id;
  }

  /**
   * @internal Adds an entry brought over from another outbox (`tidemark import --format
   * outbox-dir`): pending like an enqueued one, or, with `held`, straight into conflicts or dead
   * letters with that reason, never attempted here. `enqueuedAt` keeps the original time.
   */
  async importEntry(
    input: OutboxEntryInput,
    options: { enqueuedAt?: number; held?: { kind: "conflict" | "dead"; reason: string } } = {},
  ): Promise<string> {
    this.checkWritable();
    const { meta, body } = checkEntry(
      input,
      this.options.bodyBytesMax,
      options.enqueuedAt ?? this.clock(),
    );
    if (this.store.pending.size >= this.options.entriesMax) {
      throw new OutboxFullError(
        `outbox ${this.name} holds ${this.options.entriesMax} pending entries (entriesMax)`,
        { outbox: this.name },
      );
    }
    const entry = await this.store.append(meta, body);
    if (options.held === undefined) {
      this.dispatcher.add(entry);
      return entry.id;
    }
    const { kind, reason } = options.held;
    await this.store.hold(entry, sequenceKey(entry), kind, reason, null, this.clock());
    return entry.id;
  }

  /** Starts delivering (pending entries first, in order per key). */
  start(): void {
    this.checkWritable();
    this.dispatcher.start();
  }

  /**
   * Stops starting attempts, waits for those in flight (up to `timeoutMs`, default the
   * `stopTimeoutMs` option), aborts what is left (those entries stay pending), and waits for
   * the outbox's state to be written.
   */
  async stop(timeoutMs = this.options.stopTimeoutMs): Promise<void> {
    await this.dispatcher.stop(timeoutMs);
    await this.store.flush();
  }

  /** Stops, stores what is left to store, releases the upstream and the outbox's name. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (!this.readOnly) await this.stop();
      await this.upstream.close?.();
    } finally {
      this.forget();
    }
  }

  /** Resolves when nothing is pending or in flight (at once if so now). */
  idle(): Promise<void> {
    return this.dispatcher.idle();
  }

  stats(): OutboxStats {
    let conflicts = 0;
    let deadLetters = 0;
    for (const held of this.store.held.values()) {
      if (held.kind === "conflict") conflicts++;
      else deadLetters++;
    }
    const oldest = this.store.pending.first();
    return {
      name: this.name,
      upstream: this.upstream.description,
      running: this.dispatcher.running,
      pending: this.store.pending.size,
      inFlight: this.dispatcher.inFlightCount,
      oldestPendingAgeMs: oldest === undefined ? null : this.clock() - oldest.meta.enqueuedAt,
      ...this.dispatcher.counts,
      conflicts,
      deadLetters,
      upstreamDown: this.dispatcher.upstreamDown,
      lastError: this.dispatcher.lastError,
    };
  }

  /** Pending entries, oldest first (at most `limit`). */
  pending(limit = 100): OutboxEntryInfo[] {
    const out: OutboxEntryInfo[] = [];
    for (const entry of this.store.pending.values()) {
      if (out.length >= limit) break;
      out.push(pendingInfo(entry, this.dispatcher.isInFlight(entry)));
    }
    return out;
  }

  conflicts(): OutboxEntryInfo[] {
    return [...this.store.held.values()].filter((h) => h.kind === "conflict").map(heldInfo);
  }

  deadLetters(): OutboxEntryInfo[] {
    return [...this.store.held.values()].filter((h) => h.kind === "dead").map(heldInfo);
  }

  /** A pending entry, conflict or dead letter by id; undefined if it is not held any more. */
  get(id: string): OutboxEntryInfo | undefined {
    const held = this.store.held.get(id);
    if (held !== undefined) return heldInfo(held);
    for (const entry of this.store.pending.values()) {
      if (entry.id === id) return pendingInfo(entry, this.dispatcher.isInFlight(entry));
    }
    return undefined;
  }

  /** The body of a pending entry, conflict or dead letter. */
  async body(id: string): Promise<Uint8Array> {
    const held = this.store.held.get(id);
    if (held !== undefined) return this.store.heldBody(held);
    for (const entry of this.store.pending.values()) {
      if (entry.id === id) return this.store.body(entry);
    }
    throw new NotFoundError(`outbox ${this.name} holds no entry ${id}`, { outbox: this.name });
  }

  /**
   * Puts a conflict or dead letter back in line (at the end of its key's line), optionally
   * with a new precondition or headers. It keeps its id; its idempotency key changes, since
   * the upstream answered the previous one.
   */
  async retry(id: string, options: RetryOptions = {}): Promise<string> {
    this.checkWritable();
    const headers = checkHeaders(options.headers);
    const precondition =
      options.precondition === undefined ? undefined : checkPrecondition(options.precondition);
    const held = this.claimHeld(id);
    let entry: PendingEntry;
    try {
      const meta: EntryMeta = {
        ...held.meta,
        id: held.id,
        gen: held.meta.gen + 1,
        headers: { ...held.meta.headers, ...headers },
        precondition: precondition === undefined ? held.meta.precondition : precondition,
        retryOf: held.heldSeq,
      };
      entry = await this.store.append(meta, await this.store.heldBody(held));
    } catch (err) {
      this.store.releaseHeld(held); // nothing was stored: it is still a conflict or dead letter
      throw err;
    }
    // In line at once (its seq orders it before anything enqueued after); the resolution record
    // follows, and if it is lost, recovery finds `retryOf`.
    this.dispatcher.add(entry);
    await this.store.resolveHeld(held.heldSeq, "retry");
    return entry.id;
  }

  /** Drops a conflict or dead letter for good (the user's decision, recorded). */
  async discard(id: string): Promise<void> {
    this.checkWritable();
    const held = this.claimHeld(id);
    try {
      await this.store.resolveHeld(held.heldSeq, "discard");
    } catch (err) {
      this.store.releaseHeld(held);
      throw err;
    }
  }

  /** Takes a conflict or dead letter out of the open ones, so that two calls cannot both act. */
  private claimHeld(id: string): HeldEntry {
    const held = this.store.claimHeld(id);
    if (held === undefined) {
      throw new NotFoundError(`outbox ${this.name} has no conflict or dead letter ${id}`, {
        outbox: this.name,
      });
    }
    return held;
  }

  private checkWritable(): void {
    if (this.closed) throw new InvalidArgumentError(`outbox ${this.name} is closed`);
    if (this.readOnly) {
      throw new ReadOnlyError(`outbox ${this.name} was opened on a read-only journal`, {
        outbox: this.name,
      });
    }
  }
}

export function checkName(name: string): void {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new InvalidArgumentError(
      `an outbox name is 1–128 letters, digits, '.', '_' or '-', starting with a letter or digit; got ${JSON.stringify(name)}`,
    );
  }
}

/** An upstream for an outbox opened only to inspect or manage it (never started). */
export const NO_UPSTREAM: Upstream = {
  description: "none (opened to inspect or manage)",
  sequenced: false,
  deliver: async () => ({ kind: "retry", error: "this outbox was opened without an upstream" }),
};
