/**
 * Waking subscriptions (subscriptions.ts has the API): making a wake when a subscription has
 * unacknowledged data and none is on, sending it (a signed webhook POST, or an event appended to
 * a pull-wake subscription's wake stream), ending leases whose time is past, trying failed
 * webhooks again, and following what other processes sharing the subscriptions do. Each step
 * reads the streams' tails first, then makes one atomic change in the book (subscription-book.ts).
 */
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
import {
  infos,
  newWake,
  pendingIn,
  STREAMS_PER_SUBSCRIPTION_MAX,
  SUBSCRIPTIONS_MAX,
  type Tails,
} from "./wake-rules.js";
import { WakeTimers } from "./wake-timers.js";
import { digestOf, issueToken } from "./wake-tokens.js";
import { postWake } from "./webhook-post.js";

const WEBHOOK_ATTEMPTS_MAX = 8;
/** Tails read at once (each may be a round trip to a shared store). */
const TAIL_READS_AT_ONCE = 16;

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

export class SubscriptionWaker {
  readonly timers: WakeTimers;
  private readonly matchers = new Map<string, RegExp>();
  stopped = false;

  constructor(private readonly host: SubscriptionsHost) {
    this.timers = new WakeTimers({
      expire: (id, wakeId) => this.expire(id, wakeId),
      retry: (id) => this.maybeWake(id),
      clock: host.clock,
    });
    host.book.onChange((id, state, isNew) => this.heard(id, state, isNew));
  }

  stop(): void {
    this.stopped = true;
    this.timers.clearAll();
    this.host.book.close();
  }

  /** Makes a wake if the subscription has unacknowledged data and none is on, and sends it. */
  async maybeWake(id: string): Promise<void> {
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

  async linkGlob(id: string, path: string): Promise<void> {
    await this.host.book.update(id, (current) => {
      if (current === undefined || current.stored.links.has(path)) return current;
      if (current.stored.links.size >= STREAMS_PER_SUBSCRIPTION_MAX) return current;
      current.stored.links.set(path, { explicit: false, glob: true, acked: 0 });
      return current;
    });
  }

  /** The streams' tails as the store has them now (0 for a stream that is not there). */
  async tails(paths: readonly string[]): Promise<Tails> {
    const tails: Tails = new Map();
    for (let i = 0; i < paths.length; i += TAIL_READS_AT_ONCE) {
      const slice = paths.slice(i, i + TAIL_READS_AT_ONCE);
      // A stream that cannot be looked at now (NATS away, a broken fork) counts as having no
      // new data; the others still decide, and its next append looks again.
      const found = await Promise.all(
        slice.map((path) =>
          this.host.registry.find(path).catch((err: unknown) => {
            this.host.logger.warn({ stream: path, err: String(err) }, "could not read a tail");
            return undefined;
          }),
        ),
      );
      slice.forEach((path, j) => {
        const ds = found[j];
        tails.set(path, ds === undefined || ds.deleted ? 0 : ds.tail);
      });
    }
    return tails;
  }

  matcher(state: SubscriptionState): RegExp | undefined {
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
