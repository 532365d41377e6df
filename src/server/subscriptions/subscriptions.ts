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
 * worker whose lease ran out cannot acknowledge over its successor. Acknowledged positions and
 * configuration are durable (subscription-log.ts); wakes and leases are not.
 */

import { randomBytes } from "node:crypto";
import { TidemarkError } from "../../errors.js";
import type { Logger } from "../../logger.js";
import { sameSecret } from "../http/secrets.js";
import type { DsRegistry } from "../streams/ds-registry.js";
import { globToRegExp } from "./glob.js";
import type { WebhookKeys } from "./signing.js";
import { type StoredSubscription, type SubscriptionLog, toJson } from "./subscription-log.js";
import { parseAcks, parseConfig, parseStreamList, parseWorker } from "./subscription-requests.js";
import { type StreamInfo, streamInfos, subscriptionView } from "./subscription-view.js";
import { type TokenStatus, WakeTokens } from "./wake-tokens.js";
import { postWake } from "./webhook-post.js";

export const SUBSCRIPTIONS_MAX = 1000;
export const STREAMS_PER_SUBSCRIPTION_MAX = 10_000;
const WEBHOOK_ATTEMPTS_MAX = 8;

interface Wake {
  id: string;
  generation: number;
  token: string;
  holder: string | null;
  /** Tails when the wake was made: `done` acknowledges up to them. */
  snapshot: Map<string, number>;
  lease: NodeJS.Timeout | undefined;
}

interface Live {
  stored: StoredSubscription;
  matcher: RegExp | null;
  wake: Wake | null;
  retry: NodeJS.Timeout | undefined;
  attempts: number;
  tokens: WakeTokens;
}

export interface SubscriptionsHost {
  registry: DsRegistry;
  /** The signing key, made when the first webhook subscription is stored. */
  keys: WebhookKeys;
  log: SubscriptionLog;
  stored: Map<string, StoredSubscription>;
  logger: Logger;
  clock: () => number;
  /** The server's base URL as clients see it (for callback and JWKS URLs). */
  baseUrl: () => string;
  /** Appends a JSON wake event to a pull-wake subscription's wake stream. */
  appendWakeEvent: (wakeStream: string, event: object) => Promise<void>;
}

export class Subscriptions {
  private readonly live = new Map<string, Live>();
  private stopped = false;

  constructor(private readonly host: SubscriptionsHost) {
    for (const stored of host.stored.values()) this.live.set(stored.id, this.wrap(stored));
  }

  /** After a restart: subscriptions with unacknowledged data wake again. */
  start(): void {
    for (const sub of this.live.values()) void this.maybeWake(sub);
  }

  stop(): void {
    this.stopped = true;
    for (const sub of this.live.values()) this.clearWake(sub);
  }

  jwks(): object {
    return this.host.keys.jwks();
  }

  /**
   * Whether `token` is a wake token of subscription `id` (wake-tokens.ts); `unknown` when there
   * is no such subscription too, so a request without the right token learns nothing about ids.
   */
  workerToken(id: string, token: string): TokenStatus {
    const sub = this.live.get(id);
    return sub === undefined ? "unknown" : sub.tokens.status(token, sub.wake?.token);
  }

  async put(id: string, input: unknown): Promise<{ created: boolean; body: object }> {
    const config = parseConfig(input, this.host.clock());
    const existing = this.live.get(id);
    if (existing !== undefined) {
      if (existing.stored.config.configKey !== config.configKey) {
        throw new TidemarkError(
          "SUBSCRIPTION_ALREADY_EXISTS",
          `subscription ${id} exists with another configuration`,
        );
      }
      return { created: false, body: this.view(existing) };
    }
    if (this.live.size >= SUBSCRIPTIONS_MAX) {
      throw new TidemarkError(
        "TOO_MANY_SUBSCRIPTIONS",
        `this server holds at most ${SUBSCRIPTIONS_MAX} subscriptions`,
      );
    }
    const stored: StoredSubscription = { id, config, links: new Map(), generation: 0 };
    const explicit = (input as { streams?: unknown }).streams;
    for (const path of Array.isArray(explicit) ? explicit : []) {
      stored.links.set(String(path), {
        explicit: true,
        glob: false,
        acked: this.tail(String(path)),
      });
    }
    const matcher = config.pattern === null ? null : globToRegExp(config.pattern);
    if (matcher !== null) {
      for (const ds of this.host.registry.all()) {
        if (matcher.test(ds.path) && !stored.links.has(ds.path))
          stored.links.set(ds.path, { explicit: false, glob: true, acked: ds.tail });
      }
    }
    this.checkLinkCount(stored);
    if (config.webhookUrl !== null) await this.host.keys.ensure();
    await this.host.log.write(this.host.stored, { op: "put", sub: toJson(stored) });
    const sub = this.wrap(this.host.stored.get(id)!);
    this.live.set(id, sub);
    return { created: true, body: this.view(sub) };
  }

  get(id: string): object {
    return this.view(this.find(id));
  }

  async delete(id: string): Promise<void> {
    const sub = this.find(id);
    this.clearWake(sub);
    this.live.delete(id);
    await this.host.log.write(this.host.stored, { op: "delete", id });
  }

  async addStreams(id: string, input: unknown): Promise<void> {
    const sub = this.find(id);
    for (const path of parseStreamList(input)) {
      const link = sub.stored.links.get(path);
      const next = {
        explicit: true,
        glob: link?.glob ?? false,
        acked: link?.acked ?? this.tail(path),
      };
      if (sub.stored.links.size >= STREAMS_PER_SUBSCRIPTION_MAX && link === undefined) {
        throw new TidemarkError(
          "TOO_MANY_STREAMS",
          `a subscription links at most ${STREAMS_PER_SUBSCRIPTION_MAX} streams`,
        );
      }
      await this.host.log.write(this.host.stored, { op: "link", id, path, link: next });
    }
  }

  async removeStream(id: string, path: string): Promise<void> {
    const sub = this.find(id);
    const link = sub.stored.links.get(path);
    if (link === undefined || !link.explicit) return;
    if (link.glob)
      await this.host.log.write(this.host.stored, {
        op: "link",
        id,
        path,
        link: { ...link, explicit: false },
      });
    else await this.host.log.write(this.host.stored, { op: "unlink", id, path });
  }

  /** A stream was appended to (or created with data). */
  onAppend(path: string): void {
    if (this.stopped) return;
    for (const sub of this.live.values()) {
      if (sub.matcher?.test(path) && !sub.stored.links.has(path)) {
        if (sub.stored.links.size >= STREAMS_PER_SUBSCRIPTION_MAX) continue;
        const link = { explicit: false, glob: true, acked: 0 };
        void this.host.log
          .write(this.host.stored, { op: "link", id: sub.stored.id, path, link })
          .then(
            () => this.maybeWake(sub),
            (err: unknown) =>
              this.host.logger.warn(
                { subscription: sub.stored.id, err: String(err) },
                "could not link a stream",
              ),
          );
        continue;
      }
      if (sub.stored.links.has(path)) void this.maybeWake(sub);
    }
  }

  /** A webhook worker acknowledges (and maybe finishes) its wake. */
  async callback(id: string, token: string | undefined, input: unknown): Promise<object> {
    const sub = this.find(id);
    if (sub.stored.config.type !== "webhook")
      throw new TidemarkError("INVALID_REQUEST", "not a webhook subscription");
    return this.acknowledge(sub, token, input);
  }

  async claim(id: string, input: unknown): Promise<object> {
    const sub = this.find(id);
    if (sub.stored.config.type !== "pull-wake")
      throw new TidemarkError("INVALID_REQUEST", "not a pull-wake subscription");
    const worker = parseWorker(input);
    if (sub.wake?.holder != null) {
      throw new TidemarkError("ALREADY_CLAIMED", `claimed by ${sub.wake.holder}`, {
        current_holder: sub.wake.holder,
        generation: sub.wake.generation,
      });
    }
    if (!this.pending(sub)) throw new TidemarkError("NO_PENDING_WORK", "nothing to do");
    const wake = sub.wake ?? (await this.newWake(sub));
    wake.holder = worker;
    wake.token = sub.tokens.issue();
    this.lease(sub, wake);
    return {
      wake_id: wake.id,
      generation: wake.generation,
      token: wake.token,
      streams: this.streamInfos(sub),
      lease_ttl_ms: sub.stored.config.leaseTtlMs,
    };
  }

  async ack(id: string, token: string | undefined, input: unknown): Promise<object> {
    const sub = this.find(id);
    if (sub.stored.config.type !== "pull-wake")
      throw new TidemarkError("INVALID_REQUEST", "not a pull-wake subscription");
    return this.acknowledge(sub, token, input);
  }

  async release(id: string, token: string | undefined, input: unknown): Promise<void> {
    const sub = this.find(id);
    this.fence(sub, token, input);
    this.clearWake(sub);
    void this.maybeWake(sub);
  }

  private async acknowledge(sub: Live, token: string | undefined, input: unknown): Promise<object> {
    const wake = this.fence(sub, token, input);
    const acks = parseAcks(input);
    // An ack past a stream's tail would mark messages not yet written as done: they would be
    // skipped without a word when they come.
    for (const ack of acks) {
      if (sub.stored.links.has(ack.stream) && ack.position > this.tail(ack.stream)) {
        throw new TidemarkError(
          "OFFSET_PAST_TAIL",
          `the ack for ${ack.stream} is past its tail: this server never issued that offset`,
          { stream: ack.stream },
        );
      }
    }
    for (const ack of acks) {
      if (sub.stored.links.has(ack.stream)) {
        await this.host.log.write(this.host.stored, {
          op: "ack",
          id: sub.stored.id,
          path: ack.stream,
          acked: ack.position,
        });
      }
    }
    if ((input as { done?: unknown }).done !== true) {
      this.lease(sub, wake);
      return { ok: true, next_wake: false };
    }
    this.clearWake(sub);
    const next = this.pending(sub);
    if (next) void this.maybeWake(sub);
    return { ok: true, next_wake: next };
  }

  /** The wake a request names, if it is the current one and the token is its token; else 409. */
  private fence(sub: Live, token: string | undefined, input: unknown): Wake {
    const body = (input ?? {}) as { wake_id?: unknown; generation?: unknown };
    const wake = sub.wake;
    if (
      wake === null ||
      token === undefined ||
      !sameSecret(token, wake.token) ||
      body.wake_id !== wake.id ||
      body.generation !== wake.generation
    ) {
      throw new TidemarkError("FENCED", "this wake is over: a newer one (or none) is current");
    }
    return wake;
  }

  private async maybeWake(sub: Live): Promise<void> {
    if (this.stopped || sub.wake !== null || !this.pending(sub) || !this.live.has(sub.stored.id))
      return;
    const wake = await this.newWake(sub);
    if (sub.stored.config.type === "webhook") {
      this.lease(sub, wake);
      void this.deliver(sub, wake);
    } else {
      const event = {
        subscription_id: sub.stored.id,
        wake_id: wake.id,
        generation: wake.generation,
        streams: this.streamInfos(sub),
      };
      await this.host
        .appendWakeEvent(sub.stored.config.wakeStream!, event)
        .catch((err: unknown) => {
          this.host.logger.warn(
            { subscription: sub.stored.id, err: String(err) },
            "could not write a wake event",
          );
        });
    }
  }

  private async newWake(sub: Live): Promise<Wake> {
    const generation = sub.stored.generation + 1;
    await this.host.log.write(this.host.stored, {
      op: "generation",
      id: sub.stored.id,
      generation,
    });
    const snapshot = new Map([...sub.stored.links.keys()].map((path) => [path, this.tail(path)]));
    sub.wake = {
      id: `w_${randomBytes(12).toString("hex")}`,
      generation,
      token: sub.tokens.issue(),
      holder: null,
      snapshot,
      lease: undefined,
    };
    return sub.wake;
  }

  private async deliver(sub: Live, wake: Wake): Promise<void> {
    const base = this.host.baseUrl();
    const body = JSON.stringify({
      subscription_id: sub.stored.id,
      wake_id: wake.id,
      generation: wake.generation,
      callback_url: `${base}/v1/stream/__ds/subscriptions/${encodeURIComponent(sub.stored.id)}/callback`,
      callback_token: wake.token,
      streams: this.streamInfos(sub),
    });
    try {
      const reply = await postWake(
        sub.stored.config.webhookUrl!,
        body,
        await this.host.keys.ensure(),
        this.host.clock(),
      );
      sub.attempts = 0;
      if (reply.done === true && sub.wake === wake) {
        for (const [path, tail] of wake.snapshot) {
          await this.host.log.write(this.host.stored, {
            op: "ack",
            id: sub.stored.id,
            path,
            acked: tail,
          });
        }
        this.clearWake(sub);
        void this.maybeWake(sub);
      }
    } catch (err) {
      if (sub.wake !== wake || this.stopped) return;
      this.clearWake(sub);
      if (++sub.attempts > WEBHOOK_ATTEMPTS_MAX) {
        this.host.logger.warn(
          { subscription: sub.stored.id, err: String(err) },
          "webhook failed; waiting for the next append",
        );
        sub.attempts = 0;
        return;
      }
      const delayMs = Math.min(60_000, 500 * 2 ** sub.attempts) * (0.5 + Math.random() / 2);
      sub.retry = setTimeout(() => void this.maybeWake(sub), delayMs);
      sub.retry.unref();
    }
  }

  /** A lease: if the holder does not finish in time, the wake ends and the next one fences it. */
  private lease(sub: Live, wake: Wake): void {
    if (wake.lease !== undefined) clearTimeout(wake.lease);
    wake.lease = setTimeout(() => {
      if (sub.wake !== wake) return;
      this.clearWake(sub);
      void this.maybeWake(sub);
    }, sub.stored.config.leaseTtlMs);
    wake.lease.unref();
  }

  private clearWake(sub: Live): void {
    if (sub.wake?.lease !== undefined) clearTimeout(sub.wake.lease);
    if (sub.retry !== undefined) clearTimeout(sub.retry);
    sub.retry = undefined;
    sub.wake = null;
  }

  private pending(sub: Live): boolean {
    for (const [path, link] of sub.stored.links) if (this.tail(path) > link.acked) return true;
    return false;
  }

  private streamInfos(sub: Live): StreamInfo[] {
    return streamInfos(sub.stored, (path) => this.tail(path));
  }

  private view(sub: Live): object {
    return subscriptionView(sub.stored, (path) => this.tail(path), {
      kid: this.host.keys.current?.kid ?? null,
      baseUrl: this.host.baseUrl(),
    });
  }

  private find(id: string): Live {
    const sub = this.live.get(id);
    if (sub === undefined)
      throw new TidemarkError("SUBSCRIPTION_NOT_FOUND", `no subscription ${id}`);
    return sub;
  }

  private tail(path: string): number {
    const ds = this.host.registry.peek(path);
    return ds === undefined || ds.deleted ? 0 : ds.tail;
  }

  private checkLinkCount(stored: StoredSubscription): void {
    if (stored.links.size > STREAMS_PER_SUBSCRIPTION_MAX) {
      throw new TidemarkError(
        "TOO_MANY_STREAMS",
        `a subscription links at most ${STREAMS_PER_SUBSCRIPTION_MAX} streams`,
      );
    }
  }

  private wrap(stored: StoredSubscription): Live {
    return {
      stored,
      matcher: stored.config.pattern === null ? null : globToRegExp(stored.config.pattern),
      wake: null,
      retry: undefined,
      attempts: 0,
      tokens: new WakeTokens(),
    };
  }
}
