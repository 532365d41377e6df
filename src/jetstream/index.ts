/**
 * The JetStream layer's face: Durable Streams kept in NATS JetStream (docs/jetstream.md), for
 * the server to use as its store. Below the server: it imports format, errors and the logger,
 * never the server, the outbox or the CLI.
 */
export {
  type JetStreamConfig,
  type JetStreamOptions,
  resolveJetStreamOptions,
} from "./jetstream-options.js";
export { RECORDS_PER_MESSAGE_MAX } from "./jetstream-reads.js";
export { JetStreamStore } from "./jetstream-store.js";
export { JetStreamRecords, type SharedRecord } from "./shared-records.js";
