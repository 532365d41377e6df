/**
 * A NATS JetStream upstream: each delivery is one message published to a subject of one
 * JetStream stream, and counts as delivered once the stream acknowledged it (stored; on a
 * `sync_interval: always` server also fsynced; on a replicated stream held by a quorum).
 *
 * Exactly once. Every attempt of an entry carries the same `Nats-Msg-Id` (the entry's
 * idempotency key), so the stream stores a retry after a lost acknowledgement once and answers
 * it `duplicate: true`, which is a delivery. That dedupe only covers the stream's
 * `duplicate_window`, so:
 *   1. when it connects, the upstream reads the stream's config and refuses to deliver while
 *      the window is shorter than `windowMsMin` (twice the longest normal gap between two
 *      attempts of an entry: the ack timeout plus the outbox's longest backoff);
 *   2. it remembers when each entry was first sent without an answer, and never sends it again
 *      once the window since then may have passed: the entry becomes a dead letter saying it
 *      may already be in the stream (check, then retry or discard). A caller that checked the
 *      stream itself (the mirror) says so with `knownAbsent`.
 *
 * Order per key. The outbox keeps one attempt per key in flight; the upstream never publishes
 * while disconnected (the client would buffer the message and send it after the reconnect,
 * behind the outbox's back), so an attempt that answered "retry" is not still on its way.
 *
 *   acknowledged (new or duplicate)          delivered
 *   not connected, timeout, no responders    retry, without a status (the upstream is down)
 *   10071 wrong last subject sequence        conflict (an `ifMatch` precondition)
 *   over max_payload or max_msg_size, a bad subject, a precondition JetStream cannot check,
 *   any other JetStream API error            rejected (a dead letter, with the reason)
 */
import { JetStreamApiError, type PubAck } from "@nats-io/jetstream";
import { headers as natsHeaders, TimeoutError } from "@nats-io/transport-node";
import { InvalidArgumentError } from "../../errors.js";
import type { Logger } from "../../logger.js";
import { checkKnownKeys } from "../../options-check.js";
import { NatsLink, type NatsLinkOptions, windowMsMin } from "./nats-link.js";
import type { Delivery, Outcome, Upstream, UpstreamSettings } from "./upstream.js";

export interface JetStreamUpstreamOptions extends NatsLinkOptions {
  /**
   * Prepended to a target to make the subject: target `/orders/created` with prefix `edge.1`
   * is subject `edge.1.orders.created` (each `/` a `.`). The stream must capture it.
   */
  subjectPrefix?: string;
  logger?: Logger;
}

/** What JetStream answers a publish whose `Nats-Expected-Last-Subject-Sequence` is stale. */
const WRONG_LAST_SEQUENCE = 10071;
/** A quoted decimal ETag (`"12"`): the subject's last sequence, for `ifMatch`. */
const SEQUENCE_TAG = /^"(\d{1,15})"$/;
const SUBJECT = /^[^\s*>.]+(\.[^\s*>.]+)*$/;
const SUBJECT_CHARS_MAX = 1024;
/** Room for the headers we add (Nats-Msg-Id, Nats-Expected-*) when checking max_payload. */
const HEADER_BYTES_RESERVE = 512;

export class JetStreamUpstream implements Upstream {
  readonly sequenced = false;
  readonly deduplicates = true;
  readonly description: string;
  private readonly link: NatsLink;
  private readonly prefix: string;
  /** Idempotency key → when it was first sent without an answer (it may be stored). */
  private readonly unanswered = new Map<string, number>();

  constructor(options: JetStreamUpstreamOptions) {
    checkKnownKeys(
      options,
      ["servers", "stream", "token", "user", "pass", "timeoutMs", "subjectPrefix", "logger"],
      "JetStreamUpstream options",
    );
    const prefix = options.subjectPrefix ?? "";
    if (typeof prefix !== "string" || (prefix !== "" && !SUBJECT.test(prefix))) {
      throw new InvalidArgumentError(
        `subjectPrefix must be subject tokens without wildcards or spaces (e.g. 'edge.1'), got ${JSON.stringify(prefix)}`,
      );
    }
    this.prefix = prefix;
    this.link = new NatsLink(options, options.logger);
    this.description = `jetstream ${this.link.description}${prefix === "" ? "" : ` ${prefix}.>`}`;
  }

  /** The outbox's (or mirror's) longest backoff decides how long the duplicate window must be. */
  attach(settings: UpstreamSettings): void {
    this.link.requireWindowMs(windowMsMin(this.link.timeoutMs, settings.backoffMaxMs));
  }

  /** The subject a target publishes to, or why it has none. */
  subjectFor(target: string): { subject: string } | { problem: string } {
    const path = target.replace(/^\/+/, "").replaceAll("/", ".");
    const subject =
      this.prefix === "" ? path : path === "" ? this.prefix : `${this.prefix}.${path}`;
    if (subject.length > SUBJECT_CHARS_MAX || !SUBJECT.test(subject)) {
      return {
        problem: `target ${JSON.stringify(target)} makes no valid subject (${JSON.stringify(subject)}: tokens without '*', '>', spaces or empty parts)`,
      };
    }
    return { subject };
  }

  async deliver(delivery: Delivery, signal: AbortSignal): Promise<Outcome> {
    const to = this.subjectFor(delivery.target);
    if ("problem" in to) return { kind: "rejected", reason: to.problem };
    const expect = expectation(delivery);
    if (typeof expect === "string") return { kind: "rejected", reason: expect };
    const key = delivery.idempotencyKey;
    const sentAt = this.unanswered.get(key);
    if (sentAt !== undefined && delivery.knownAbsent !== true) {
      const horizon = this.link.windowMs - this.link.timeoutMs;
      if (this.link.windowMs > 0 && Date.now() - sentAt > horizon) {
        this.unanswered.delete(key);
        return {
          kind: "rejected",
          reason: `an attempt at ${new Date(sentAt).toISOString()} got no answer and may have been stored; the stream's duplicate_window (${this.link.windowMs / 1000} s) has passed since, so sending it again could store it twice (look for Nats-Msg-Id ${key} in the stream, then retry or discard)`,
        };
      }
    }
    const ready = await this.link.ready(signal);
    if (typeof ready === "string") return { kind: "retry", error: ready };
    const limit = this.link.bodyBytesMax();
    let headerBytes = HEADER_BYTES_RESERVE;
    for (const [name, value] of Object.entries(delivery.headers)) {
      headerBytes += name.length + value.length + 4;
    }
    if (delivery.body.byteLength + headerBytes > limit) {
      this.unanswered.delete(key);
      return {
        kind: "rejected",
        reason: `the body is ${delivery.body.byteLength} bytes (and ${headerBytes} of headers); the JetStream stream ${this.link.stream} takes messages of at most ${limit} bytes with headers (max_payload / max_msg_size)`,
      };
    }
    if (signal.aborted) return { kind: "retry", error: "aborted before sending" };
    const headers = natsHeaders();
    for (const [name, value] of Object.entries(delivery.headers)) headers.set(name, value);
    const sent = Date.now();
    let ack: PubAck;
    try {
      ack = await ready.js.publish(to.subject, delivery.body, {
        msgID: key,
        expect: { streamName: this.link.stream, ...expect },
        headers,
        timeout: this.link.timeoutMs,
      });
    } catch (err) {
      return this.failed(key, sent, err);
    }
    this.unanswered.delete(key);
    return { kind: "delivered", status: ack.duplicate ? 208 : 201 };
  }

  /**
   * The `Nats-Msg-Id` of the last message on the target's subject (null when it has none): a
   * mirror, the only publisher on its subject, resumes from it whatever the duplicate window.
   */
  async lastDelivered(target: string, signal: AbortSignal): Promise<string | null> {
    const to = this.subjectFor(target);
    if ("problem" in to) throw new InvalidArgumentError(to.problem);
    const ready = await this.link.ready(signal);
    if (typeof ready === "string") throw new Error(ready);
    const message = await ready.jsm.streams.getMessage(this.link.stream, {
      last_by_subj: to.subject,
    });
    return message?.header.get("Nats-Msg-Id") || null;
  }

  private failed(key: string, sentAt: number, err: unknown): Outcome {
    if (err instanceof JetStreamApiError) {
      if (err.code === WRONG_LAST_SEQUENCE) {
        this.unanswered.delete(key);
        return {
          kind: "conflict",
          answer: { status: 412, headers: {}, body: `${err.code}: ${err.message}` },
        };
      }
      if (err.status === 503 || err.status >= 500) {
        return { kind: "retry", error: `JetStream answered ${err.status} (${err.message})` };
      }
      this.unanswered.delete(key);
      return {
        kind: "rejected",
        reason: `JetStream refused the message (${err.code}: ${err.message})`,
        answer: { status: err.status, headers: {}, body: `${err.code}: ${err.message}` },
      };
    }
    if (err instanceof Error && err.name === "JetStreamNotEnabled") {
      // No responders (the 3.x client names it so; not exported): no JetStream server took the
      // request (a leader election, or none up).
      return { kind: "retry", error: "JetStream did not answer (no responders)" };
    }
    const message = err instanceof Error ? err.message : String(err);
    if (/max_payload/i.test(message)) {
      this.unanswered.delete(key);
      return { kind: "rejected", reason: `the message is over the server's max_payload` };
    }
    // A timeout, or the connection lost mid-request: the message may be stored.
    if (!this.unanswered.has(key)) this.unanswered.set(key, sentAt);
    return {
      kind: "retry",
      error:
        err instanceof TimeoutError
          ? `no acknowledgement within ${this.link.timeoutMs} ms`
          : `publishing failed: ${message}`,
    };
  }

  async close(): Promise<void> {
    await this.link.close();
  }
}

/** The publish expectation for the entry's precondition, or why JetStream cannot check it. */
function expectation(delivery: Delivery): { lastSubjectSequence?: number } | string {
  const precondition = delivery.precondition;
  if (precondition === null) return {};
  if ("ifMatch" in precondition) {
    const match = SEQUENCE_TAG.exec(precondition.ifMatch);
    if (match !== null) return { lastSubjectSequence: Number(match[1]) };
    return `a JetStream precondition is the subject's last sequence as a quoted ETag ("12"), got ${precondition.ifMatch}`;
  }
  return "JetStream cannot check If-Unmodified-Since: use ifMatch with the subject's last sequence";
}
