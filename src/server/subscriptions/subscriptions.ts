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

import { randomBytes } from "node:crypto";
import { TidemarkError } from "../../errors.js";
import type { Logger } from "../../logger.js";
import type { DsRegistry } from "../streams/ds-registry.js";
import { globToRegExp } from "./glob.js";
import type { WebhookKeys } from "./signing.js";
import {
  type SubscriptionBook,
  type SubscriptionState,
  type WakeState,
  wakeIsOn,
} from "./subscription-book.js";
import { parseAcks, parseConfig, parseStreamList, parseWorker } from "./subscription-requests.js";
import { type StreamInfo, streamInfos, subscriptionView } from "./subscription-view.js";
import { WakeTimers } from "./wake-timers.js";
import { digestOf, issueToken, sameDigest, type TokenStatus, tokenStatus } from "./wake-tokens.js";
import { postWake } from "./webhook-post.js";

export const SUBSCRIPTIONS_MAX = 1000;
export const STREAMS_PER_SUBSCRIPTION_MAX = 10_000;
const WEBHOOK_ATTEMPTS_MAX = 8;
/** Tails read at once (each may be a round trip to a shared store). */
const TAIL_READS_AT_ONCE = 16;

type Tails = Map<string, number>;

export interface SubscriptionsHost {
  registry: DsRegistry;
  /** The signing key, made when the first webhook subscription is stored. */
  keys: WebhookKeys;
  book: SubscriptionBook;
  logger: Logger;
  clock: () => number;
  /** The server's base URL as clients see it (for callback and JWKS URLs). */
  baseUrl: () => string;
  /** Appends a JSON wake event to a pull-wake subscription's wake stream. */
  appendWakeEvent: (wakeStream: string, event: object) => Promise<void>;
}

export class Subscriptions {
  private readonly timers: WakeTimers;
  private readonly matchers = new Map<string, RegExp>();
  private stopped = false;

  constructor(private readonly host: SubscriptionsHost) {
    this.timers = new WakeTimers({
      expire: (id, wakeId) => this.expire(id, wakeId),
      retry: (id) => this.maybeWake(id),
      clock: host.clock,
    });
    host.book.onChange((id, state, isNew) => this.heard(id, state, isNew));
  }

  /** After a restart: subscriptions with unacknowledged data wake again. */
  start(): void {
    for (const state of this.host.book.known()) void this.maybeWake(state.stored.id);
  }

  stop(): void {
    this.stopped = true;
    this.timers.clearAll();
    this.host.book.close();
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
    const tails = await this.tails(paths);
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
    this.timers.clear(id);
  }

  async addStreams(id: string, input: unknown): Promise<void> {
    const paths = parseStreamList(input);
    const tails = await this.tails(paths);
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
    if (this.stopped) return;
    const now = this.host.clock();
    for (const state of this.host.book.known()) {
      const id = state.stored.id;
      if (!state.stored.links.has(path)) {
        if (!this.matcher(state)?.test(path)) continue;
        if (state.stored.links.size >= STREAMS_PER_SUBSCRIPTION_MAX) continue;
        void this.linkGlob(id, path).then(
          () => this.maybeWake(id),
          (err: unknown) =>
            this.host.logger.warn(
              { subscription: id, err: String(err) },
              "could not link a stream",
            ),
        );
        continue;
      }
      if (!wakeIsOn(state.wake, now)) void this.maybeWake(id);
    }
  }

  /** A webhook worker acknowledges (and maybe finishes) its wake. */
  callback(id: string, token: string | undefined, input: unknown): Promise<object> {
    return this.acknowledge(id, "webhook", token, input);
  }

  async claim(id: string, input: unknown): Promise<object> {
    const worker = parseWorker(input);
    const known = await this.find(id, "pull-wake");
    const tails = await this.tails([...known.stored.links.keys()]);
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
    this.timers.lease(id, claimed!.wake);
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
    this.timers.clear(id);
    void this.maybeWake(id);
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
    const tails = await this.tails([...known.stored.links.keys()]);
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
      if (state?.wake != null) this.timers.lease(id, state.wake);
      return { ok: true, next_wake: false };
    }
    this.timers.clear(id);
    if (next) void this.maybeWake(id);
    return { ok: true, next_wake: next };
  }

  /** Makes a wake if the subscription has unacknowledged data and none is on, and sends it. */
  private async maybeWake(id: string): Promise<void> {
    if (this.stopped) return;
    try {
      const known = await this.host.book.get(id);
      if (known === undefined || wakeIsOn(known.wake, this.host.clock())) return;
      const tails = await this.tails([...known.stored.links.keys()]);
      if (!pendingIn(known, tails)) return;
      let made: { wake: WakeState; token: string } | undefined;
      const state = await this.host.book.update(id, (current) => {
        made = undefined;
        const now = this.host.clock();
        if (current === undefined || wakeIsOn(current.wake, now) || !pendingIn(current, tails))
          return current;
        const wake = newWake(current, tails);
        const issued = issueToken(current.tokens);
        wake.token = digestOf(issued.token);
        const webhook = current.stored.config.type === "webhook";
        wake.leaseUntil = webhook ? now + current.stored.config.leaseTtlMs : null;
        current.wake = wake;
        current.tokens = issued.digests;
        made = { wake, token: issued.token };
        return current;
      });
      if (made === undefined || state === undefined || this.stopped) return;
      const { wake, token } = made as { wake: WakeState; token: string };
      if (state.stored.config.type === "webhook") {
        this.timers.lease(id, wake);
        await this.deliver(state, wake, token, tails);
      } else {
        await this.host.appendWakeEvent(state.stored.config.wakeStream!, {
          subscription_id: id,
          wake_id: wake.id,
          generation: wake.generation,
          streams: infos(state, tails),
        });
      }
    } catch (err) {
      this.host.logger.warn(
        { subscription: id, err: String(err) },
        "could not wake a subscription",
      );
    }
  }

  private async deliver(
    state: SubscriptionState,
    wake: WakeState,
    token: string,
    tails: Tails,
  ): Promise<void> {
    const id = state.stored.id;
    const body = JSON.stringify({
      subscription_id: id,
      wake_id: wake.id,
      generation: wake.generation,
      callback_url: `${this.host.baseUrl()}/v1/stream/__ds/subscriptions/${encodeURIComponent(id)}/callback`,
      callback_token: token,
      streams: infos(state, tails),
    });
    const ours = (current: SubscriptionState | undefined) => current?.wake?.id === wake.id;
    try {
      const reply = await postWake(
        state.stored.config.webhookUrl!,
        body,
        await this.host.keys.ensure(),
        this.host.clock(),
      );
      this.timers.delivered(id);
      if (reply.done !== true) return;
      let finished = false;
      await this.host.book.update(id, (current) => {
        finished = ours(current);
        if (!finished) return current;
        for (const [path, tail] of wake.snapshot) {
          const link = current!.stored.links.get(path);
          if (link !== undefined) link.acked = Math.max(link.acked, tail);
        }
        current!.wake = null;
        return current;
      });
      if (!finished) return;
      this.timers.clear(id);
      void this.maybeWake(id);
    } catch (err) {
      if (this.stopped) return;
      let cleared = false;
      await this.host.book
        .update(id, (current) => {
          cleared = ours(current);
          if (cleared) current!.wake = null;
          return current;
        })
        .catch(() => undefined);
      if (!cleared) return;
      this.timers.clear(id);
      if (!this.timers.failed(id, WEBHOOK_ATTEMPTS_MAX)) {
        this.host.logger.warn(
          { subscription: id, err: String(err) },
          "webhook failed; waiting for the next append",
        );
      }
    }
  }

  /** The lease of `wakeId` may be over: if it is, the wake ends and the next one is made. */
  private async expire(id: string, wakeId: string): Promise<void> {
    if (this.stopped) return;
    try {
      const state = await this.host.book.update(id, (current) => {
        const wake = current?.wake;
        if (wake == null || wake.id !== wakeId || wakeIsOn(wake, this.host.clock())) return current;
        current!.wake = null;
        return current;
      });
      if (state?.wake?.id === wakeId)
        this.timers.lease(id, state.wake); // renewed meanwhile
      else void this.maybeWake(id);
    } catch (err) {
      this.host.logger.warn({ subscription: id, err: String(err) }, "could not end a lease");
    }
  }

  /**
   * Another process changed a subscription: its lease is watched here too, its end looked at.
   * One made elsewhere may have missed appends made here before this process heard of it: the
   * streams it matches that were made since it was are linked now.
   */
  private heard(id: string, state: SubscriptionState | undefined, isNew: boolean): void {
    if (this.stopped) return;
    if (state === undefined) {
      this.timers.clear(id);
      return;
    }
    if (isNew) this.linkMissed(state);
    if (state.wake !== null) this.timers.lease(id, state.wake);
    else void this.maybeWake(id);
  }

  private linkMissed(state: SubscriptionState): void {
    const matcher = this.matcher(state);
    if (matcher === undefined) return;
    const since = Date.parse(state.stored.config.createdAt);
    const id = state.stored.id;
    for (const ds of this.host.registry.all()) {
      if (ds.deleted || state.stored.links.has(ds.path) || !matcher.test(ds.path)) continue;
      if (ds.stored.info().createdAt < since) continue;
      void this.linkGlob(id, ds.path).then(
        () => this.maybeWake(id),
        (err: unknown) =>
          this.host.logger.warn({ subscription: id, err: String(err) }, "could not link a stream"),
      );
    }
  }

  private async linkGlob(id: string, path: string): Promise<void> {
    await this.host.book.update(id, (current) => {
      if (current === undefined || current.stored.links.has(path)) return current;
      if (current.stored.links.size >= STREAMS_PER_SUBSCRIPTION_MAX) return current;
      current.stored.links.set(path, { explicit: false, glob: true, acked: 0 });
      return current;
    });
  }

  private async view(state: SubscriptionState): Promise<object> {
    const tails = await this.tails([...state.stored.links.keys()]);
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

  /** The streams' tails as the store has them now (0 for a stream that is not there). */
  private async tails(paths: readonly string[]): Promise<Tails> {
    const tails: Tails = new Map();
    for (let i = 0; i < paths.length; i += TAIL_READS_AT_ONCE) {
      const slice = paths.slice(i, i + TAIL_READS_AT_ONCE);
      const found = await Promise.all(slice.map((path) => this.host.registry.find(path)));
      slice.forEach((path, j) => {
        const ds = found[j];
        tails.set(path, ds === undefined || ds.deleted ? 0 : ds.tail);
      });
    }
    return tails;
  }

  private matcher(state: SubscriptionState): RegExp | undefined {
    const pattern = state.stored.config.pattern;
    if (pattern === null) return undefined;
    let matcher = this.matchers.get(pattern);
    if (matcher === undefined) {
      matcher = globToRegExp(pattern);
      if (this.matchers.size >= SUBSCRIPTIONS_MAX) this.matchers.clear();
      this.matchers.set(pattern, matcher);
    }
    return matcher;
  }
}

function newWake(state: SubscriptionState, tails: Tails): WakeState {
  state.stored.generation += 1;
  return {
    id: `w_${randomBytes(12).toString("hex")}`,
    generation: state.stored.generation,
    token: "",
    holder: null,
    leaseUntil: null,
    snapshot: [...state.stored.links.keys()].map((path) => [path, tails.get(path) ?? 0]),
  };
}

/** The wake a request names, if it is the current one and the token is its token; else 409. */
function fence(
  state: SubscriptionState,
  token: string | undefined,
  input: unknown,
  nowMs: number,
): WakeState {
  const body = (input ?? {}) as { wake_id?: unknown; generation?: unknown };
  const wake = state.wake;
  if (
    !wakeIsOn(wake, nowMs) ||
    token === undefined ||
    !sameDigest(digestOf(token), wake.token) ||
    body.wake_id !== wake.id ||
    body.generation !== wake.generation
  ) {
    throw new TidemarkError("FENCED", "this wake is over: a newer one (or none) is current");
  }
  return wake;
}

function pendingIn(state: SubscriptionState, tails: Tails): boolean {
  for (const [path, link] of state.stored.links)
    if ((tails.get(path) ?? 0) > link.acked) return true;
  return false;
}

function infos(state: SubscriptionState, tails: Tails): StreamInfo[] {
  return streamInfos(state.stored, (path) => tails.get(path) ?? 0);
}

function checked(
  state: SubscriptionState | undefined,
  id: string,
  type?: "webhook" | "pull-wake",
): SubscriptionState {
  if (state === undefined) throw notFound(id);
  if (type !== undefined && state.stored.config.type !== type)
    throw new TidemarkError("INVALID_REQUEST", `not a ${type} subscription`);
  return state;
}

function notFound(id: string): TidemarkError {
  return new TidemarkError("SUBSCRIPTION_NOT_FOUND", `no subscription ${id}`);
}

function checkLinkCount(links: number): void {
  if (links > STREAMS_PER_SUBSCRIPTION_MAX) {
    throw new TidemarkError(
      "TOO_MANY_STREAMS",
      `a subscription links at most ${STREAMS_PER_SUBSCRIPTION_MAX} streams`,
    );
  }
}
