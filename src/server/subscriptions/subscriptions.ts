/**
 * Subscriptions (the reserved `__ds` API): durable cursors over sets of streams (listed
 * explicitly or matched by a pattern) that wake a worker when they have unacknowledged data.
 *
 * - webhook: the server POSTs a signed wake to a URL; the worker acknowledges through a callback
 *   (or answers `{done: true}` at once), with a per-wake bearer token.
 * - pull-wake: the server appends a wake event to a wake stream; a worker claims the wake (one
 *   holder at a time, under a lease), then acknowledges or releases it.
 *
 * A wake carries a generation; anything presenting an older one is fenced (409 FENCED), so a slow
 * worker whose lease ran out cannot acknowledge over its successor. Every decision is one atomic
 * change of the subscription in its book (subscription-book.ts), made from the state the book
 * gives it and the streams' tails read just before: on a shared store the book may run it again
 * on a newer state, and the decision is made again, so processes sharing subscriptions agree.
 * A lease ends when its time is past, whoever looks first: the process that set it has a timer,
 * every other process that hears of it too, and every request checks the time.
 */

import { TidemarkError } from "../../errors.js";
import { globToRegExp } from "./glob.js";
import { type SubscriptionState, type WakeState, wakeIsOn } from "./subscription-book.js";
import { parseAcks, parseConfig, parseStreamList, parseWorker } from "./subscription-requests.js";
import { subscriptionView } from "./subscription-view.js";
import { type SubscriptionsHost, SubscriptionWaker } from "./subscription-waker.js";
import {
  checked,
  checkLinkCount,
  fence,
  infos,
  newWake,
  notFound,
  pendingIn,
  STREAMS_PER_SUBSCRIPTION_MAX,
  SUBSCRIPTIONS_MAX,
  type Tails,
} from "./wake-rules.js";
import { digestOf, issueToken, type TokenStatus, tokenStatus } from "./wake-tokens.js";

export type { SubscriptionsHost };

export class Subscriptions {
  private readonly waker: SubscriptionWaker;

  constructor(private readonly host: SubscriptionsHost) {
    this.waker = new SubscriptionWaker(host);
  }

  /** After a restart: subscriptions with unacknowledged data wake again. */
  start(): void {
    for (const state of this.host.book.known()) void this.waker.maybeWake(state.stored.id);
  }

  stop(): void {
    this.waker.stop();
  }

  jwks(): Promise<object> {
    return this.host.keys.jwks();
  }

  /**
   * Whether `token` is a wake token of subscription `id` (wake-tokens.ts); `unknown` when there
   * is no such subscription too, so a request without the right token learns nothing about ids.
   */
  async workerToken(id: string, token: string): Promise<TokenStatus> {
    const state = await this.host.book.get(id);
    if (state === undefined) return "unknown";
    const wake = wakeIsOn(state.wake, this.host.clock()) ? state.wake : null;
    return tokenStatus(state.tokens, wake?.token, token);
  }

  async put(id: string, input: unknown): Promise<{ created: boolean; body: object }> {
    const config = parseConfig(input, this.host.clock());
    const explicit = (input as { streams?: unknown }).streams;
    const paths = (Array.isArray(explicit) ? explicit : []).map(String);
    const tails = await this.waker.tails(paths);
    const matcher = config.pattern === null ? null : globToRegExp(config.pattern);
    const globbed: Tails = new Map();
    if (matcher !== null) {
      for (const ds of this.host.registry.all()) {
        if (!ds.deleted && matcher.test(ds.path)) globbed.set(ds.path, ds.tail);
      }
    }
    if (config.webhookUrl !== null) await this.host.keys.ensure();
    let created = false;
    const state = await this.host.book.update(id, (current) => {
      created = false;
      if (current !== undefined) {
        if (current.stored.config.configKey !== config.configKey) {
          throw new TidemarkError(
            "SUBSCRIPTION_ALREADY_EXISTS",
            `subscription ${id} exists with another configuration`,
          );
        }
        return current;
      }
      if (this.host.book.size >= SUBSCRIPTIONS_MAX) {
        throw new TidemarkError(
          "TOO_MANY_SUBSCRIPTIONS",
          `this server holds at most ${SUBSCRIPTIONS_MAX} subscriptions`,
        );
      }
      const next: SubscriptionState = {
        stored: { id, config, links: new Map(), generation: 0 },
        wake: null,
        tokens: [],
      };
      for (const path of paths) {
        next.stored.links.set(path, { explicit: true, glob: false, acked: tails.get(path) ?? 0 });
      }
      for (const [path, tail] of globbed) {
        if (!next.stored.links.has(path))
          next.stored.links.set(path, { explicit: false, glob: true, acked: tail });
      }
      checkLinkCount(next.stored.links.size);
      created = true;
      return next;
    });
    return { created, body: await this.view(state!) };
  }

  async get(id: string): Promise<object> {
    return this.view(await this.find(id));
  }

  async delete(id: string): Promise<void> {
    await this.host.book.update(id, (current) => {
      if (current === undefined) throw notFound(id);
      return undefined;
    });
    this.waker.timers.clear(id);
  }

  async addStreams(id: string, input: unknown): Promise<void> {
    const paths = parseStreamList(input);
    const tails = await this.waker.tails(paths);
    await this.host.book.update(id, (current) => {
      if (current === undefined) throw notFound(id);
      const { links } = current.stored;
      for (const path of paths) {
        const link = links.get(path);
        if (link === undefined) checkLinkCount(links.size + 1);
        links.set(path, {
          explicit: true,
          glob: link?.glob ?? false,
          acked: link?.acked ?? tails.get(path) ?? 0,
        });
      }
      return current;
    });
  }

  async removeStream(id: string, path: string): Promise<void> {
    await this.host.book.update(id, (current) => {
      if (current === undefined) throw notFound(id);
      const link = current.stored.links.get(path);
      if (link === undefined || !link.explicit) return current;
      if (link.glob) link.explicit = false;
      else current.stored.links.delete(path);
      return current;
    });
  }

  /**
   * A stream was appended to (or created with data). Decided from what this process knows of
   * the subscriptions; one with a wake on is left to that wake's end, which looks again.
   */
  onAppend(path: string): void {
    if (this.waker.stopped) return;
    const now = this.host.clock();
    for (const state of this.host.book.known()) {
      const id = state.stored.id;
      if (!state.stored.links.has(path)) {
        if (!this.waker.matcher(state)?.test(path)) continue;
        if (state.stored.links.size >= STREAMS_PER_SUBSCRIPTION_MAX) continue;
        void this.waker.linkGlob(id, path).then(
          () => this.waker.maybeWake(id),
          (err: unknown) =>
            this.host.logger.warn(
              { subscription: id, err: String(err) },
              "could not link a stream",
            ),
        );
        continue;
      }
      if (!wakeIsOn(state.wake, now)) void this.waker.maybeWake(id);
    }
  }

  /** A webhook worker acknowledges (and maybe finishes) its wake. */
  callback(id: string, token: string | undefined, input: unknown): Promise<object> {
    return this.acknowledge(id, "webhook", token, input);
  }

  async claim(id: string, input: unknown): Promise<object> {
    const worker = parseWorker(input);
    const known = await this.find(id, "pull-wake");
    const tails = await this.waker.tails([...known.stored.links.keys()]);
    let claimed: { wake: WakeState; token: string } | undefined;
    const state = await this.host.book.update(id, (current) => {
      const sub = checked(current, id, "pull-wake");
      const now = this.host.clock();
      const on = wakeIsOn(sub.wake, now) ? sub.wake : null;
      if (on?.holder != null) {
        throw new TidemarkError("ALREADY_CLAIMED", `claimed by ${on.holder}`, {
          current_holder: on.holder,
          generation: on.generation,
        });
      }
      if (!pendingIn(sub, tails)) throw new TidemarkError("NO_PENDING_WORK", "nothing to do");
      const wake = on ?? newWake(sub, tails);
      const issued = issueToken(sub.tokens);
      wake.holder = worker;
      wake.token = digestOf(issued.token);
      wake.leaseUntil = now + sub.stored.config.leaseTtlMs;
      sub.wake = wake;
      sub.tokens = issued.digests;
      claimed = { wake, token: issued.token };
      return sub;
    });
    this.waker.timers.lease(id, claimed!.wake);
    return {
      wake_id: claimed!.wake.id,
      generation: claimed!.wake.generation,
      token: claimed!.token,
      streams: infos(state!, tails),
      lease_ttl_ms: state!.stored.config.leaseTtlMs,
    };
  }

  ack(id: string, token: string | undefined, input: unknown): Promise<object> {
    return this.acknowledge(id, "pull-wake", token, input);
  }

  async release(id: string, token: string | undefined, input: unknown): Promise<void> {
    await this.host.book.update(id, (current) => {
      const sub = checked(current, id);
      fence(sub, token, input, this.host.clock());
      sub.wake = null;
      return sub;
    });
    this.waker.timers.clear(id);
    void this.waker.maybeWake(id);
  }

  private async acknowledge(
    id: string,
    type: "webhook" | "pull-wake",
    token: string | undefined,
    input: unknown,
  ): Promise<object> {
    const acks = parseAcks(input);
    const done = (input as { done?: unknown }).done === true;
    const known = await this.find(id, type);
    const tails = await this.waker.tails([...known.stored.links.keys()]);
    let next = false;
    const state = await this.host.book.update(id, (current) => {
      const sub = checked(current, id, type);
      const now = this.host.clock();
      const wake = fence(sub, token, input, now);
      // An ack past a stream's tail would mark messages not yet written as done: they would be
      // skipped without a word when they come.
      for (const ack of acks) {
        const link = sub.stored.links.get(ack.stream);
        if (link === undefined) continue;
        if (ack.position > (tails.get(ack.stream) ?? 0)) {
          throw new TidemarkError(
            "OFFSET_PAST_TAIL",
            `the ack for ${ack.stream} is past its tail: this server never issued that offset`,
            { stream: ack.stream },
          );
        }
        link.acked = Math.max(link.acked, ack.position);
      }
      if (done) {
        sub.wake = null;
        next = pendingIn(sub, tails);
      } else wake.leaseUntil = now + sub.stored.config.leaseTtlMs;
      return sub;
    });
    if (!done) {
      if (state?.wake != null) this.waker.timers.lease(id, state.wake);
      return { ok: true, next_wake: false };
    }
    this.waker.timers.clear(id);
    if (next) void this.waker.maybeWake(id);
    return { ok: true, next_wake: next };
  }

  private async view(state: SubscriptionState): Promise<object> {
    const tails = await this.waker.tails([...state.stored.links.keys()]);
    const kid =
      state.stored.config.webhookUrl === null
        ? (this.host.keys.current?.kid ?? null)
        : (await this.host.keys.ensure()).kid;
    return subscriptionView(state.stored, (path) => tails.get(path) ?? 0, {
      kid,
      baseUrl: this.host.baseUrl(),
    });
  }

  private async find(id: string, type?: "webhook" | "pull-wake"): Promise<SubscriptionState> {
    return checked(await this.host.book.get(id), id, type);
  }
}
