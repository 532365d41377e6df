/**
 * The subscription book of a server on its own journal (subscription-book.ts): the state in
 * memory, its durable part (configuration, links, acknowledged positions, generation) written to
 * the subscription log before a change counts. Changes to one subscription run one at a time.
 */
import {
  copyState,
  type SubscriptionBook,
  type SubscriptionChange,
  type SubscriptionState,
} from "./subscription-book.js";
import {
  recordsBetween,
  type StoredSubscription,
  type SubscriptionLog,
} from "./subscription-log.js";

export class LocalSubscriptionBook implements SubscriptionBook {
  private readonly states = new Map<string, SubscriptionState>();
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly log: SubscriptionLog,
    /** The log's replayed subscriptions; the log keeps them current as it writes. */
    private readonly stored: Map<string, StoredSubscription>,
  ) {
    for (const sub of stored.values())
      this.states.set(sub.id, { stored: sub, wake: null, tokens: [] });
  }

  known(): IterableIterator<SubscriptionState> {
    return this.states.values();
  }

  get size(): number {
    return this.states.size;
  }

  async get(id: string): Promise<SubscriptionState | undefined> {
    const state = this.states.get(id);
    return state === undefined ? undefined : copyState(state);
  }

  update(id: string, change: SubscriptionChange): Promise<SubscriptionState | undefined> {
    const previous = this.queues.get(id) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.apply(id, change));
    const settled = run.catch(() => undefined);
    this.queues.set(id, settled);
    void settled.then(() => {
      if (this.queues.get(id) === settled) this.queues.delete(id);
    });
    return run;
  }

  /** Another process never changes a local journal's subscriptions. */
  onChange(): void {}

  close(): void {}

  private async apply(
    id: string,
    change: SubscriptionChange,
  ): Promise<SubscriptionState | undefined> {
    const current = this.states.get(id);
    const draft = current === undefined ? undefined : copyState(current);
    const next = change(draft);
    for (const record of recordsBetween(id, current?.stored, next?.stored)) {
      await this.log.write(this.stored, record);
    }
    if (next === undefined) {
      this.states.delete(id);
      return undefined;
    }
    this.states.set(id, { stored: this.stored.get(id)!, wake: next.wake, tokens: next.tokens });
    return copyState(next);
  }
}
