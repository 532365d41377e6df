/**
 * The outbox layer's face: what the server, the CLI and the public API may use.
 */
export type { BackoffOptions } from "./delivery/backoff.js";
export {
  Mirror,
  type MirrorOptions,
  type MirrorStats,
} from "./mirror.js";
export {
  checkName as checkOutboxName,
  NO_UPSTREAM,
  Outbox,
  type OutboxEntryInfo,
  type OutboxOptions,
  type OutboxStats,
  type RetryOptions,
} from "./outbox.js";
export { checkPrecondition, type OutboxEntryInput, type Precondition } from "./store/entry.js";
export { OUTBOX_PREFIX, outboxNames } from "./store/outbox-store.js";
export {
  DurableStreamsUpstream,
  type DurableStreamsUpstreamOptions,
} from "./upstreams/durable-streams-upstream.js";
export { HttpUpstream, type HttpUpstreamOptions } from "./upstreams/http-upstream.js";
export {
  JetStreamUpstream,
  type JetStreamUpstreamOptions,
} from "./upstreams/jetstream-upstream.js";
export { windowMsMin as jetStreamWindowMsMin } from "./upstreams/nats-link.js";
export type {
  Delivery,
  Outcome,
  Upstream,
  UpstreamAnswer,
  UpstreamSettings,
} from "./upstreams/upstream.js";
