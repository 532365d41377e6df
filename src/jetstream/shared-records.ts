/**
 * Small named records every process of a deployment shares (docs/jetstream.md, "Shared
 * records"): the server keeps its subscriptions and its webhook public keys here. A record is one
 * subject `<prefix>.r.<kind>.<key>` of `<PREFIX>_META`, which keeps one message per subject (a
 * key-value bucket in the manner of NATS KV, ADR-8). Its revision is that message's sequence.
 *
 * - Reads go to the stream's leader (last message by subject), never a lagging replica.
 * - A write is compare-and-set on the revision (expected last subject sequence): of two processes
 *   changing one record from the same revision, one wins and the other is told, and reads again.
 * - A removed record is an empty message (a tombstone): it keeps the revision, so a write made
 *   from a read before the removal loses, as it should.
 * - `watch` hears writes by any process through a core NATS subscription on the subjects; a
 *   message heard may be a write JetStream refused, so the caller reads the record to learn.
 */
import type { Subscription } from "@nats-io/transport-node";
import { type JetStreamContext, lastOf } from "./jetstream-reads.js";
import { apiCode, patiently } from "./nats-calls.js";

const WRONG_LAST_SEQUENCE = 10_071;
/** Set by the client on a compare-and-set publish (`expect.lastSubjectSequence`). */
const EXPECTED_HEADER = "Nats-Expected-Last-Subject-Sequence";
/** Records read at once while listing. */
const LIST_READS_AT_ONCE = 16;

export interface SharedRecord {
  /** Undefined when there is no such record (never written, or removed). */
  value: Uint8Array | undefined;
  /** The revision to write against: 0 when the record was never written. */
  revision: number;
}

export class JetStreamRecords {
  constructor(
    private readonly ctx: JetStreamContext,
    private readonly kind: string,
  ) {}

  /** Largest value a record takes (a NATS message, less room for headers). */
  get valueBytesMax(): number {
    return this.ctx.messageBytesMax;
  }

  /** Every record of this kind there is, by key. */
  async list(): Promise<Map<string, SharedRecord>> {
    const { subjects } = this.ctx;
    const info = await patiently("a listing of shared records", this.ctx.patienceMs, () =>
      this.ctx.jsm.streams.info(subjects.metaStream, {
        subjects_filter: subjects.recordsOf(this.kind),
      }),
    );
    const keys: string[] = [];
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const key = subjects.keyOfRecord(this.kind, subject);
      if (key !== undefined) keys.push(key);
    }
    const found = new Map<string, SharedRecord>();
    for (let i = 0; i < keys.length; i += LIST_READS_AT_ONCE) {
      const slice = keys.slice(i, i + LIST_READS_AT_ONCE);
      const records = await Promise.all(slice.map((key) => this.get(key)));
      slice.forEach((key, j) => {
        if (records[j]!.value !== undefined) found.set(key, records[j]!);
      });
    }
    return found;
  }

  async get(key: string): Promise<SharedRecord> {
    const message = await lastOf(
      this.ctx,
      this.ctx.subjects.metaStream,
      this.ctx.subjects.record(this.kind, key),
    );
    if (message === null) return { value: undefined, revision: 0 };
    return {
      value: message.data.byteLength === 0 ? undefined : message.data,
      revision: message.seq,
    };
  }

  /**
   * Writes `value` (undefined: removes the record) if the record is still at `revision`; the new
   * revision, or undefined when another process wrote it first.
   */
  async put(
    key: string,
    value: Uint8Array | undefined,
    revision: number,
  ): Promise<number | undefined> {
    try {
      const ack = await patiently("a shared record write", this.ctx.patienceMs, () =>
        this.ctx.js.publish(this.ctx.subjects.record(this.kind, key), value ?? new Uint8Array(0), {
          expect: { lastSubjectSequence: revision },
        }),
      );
      return ack.seq;
    } catch (err) {
      if (apiCode(err) === WRONG_LAST_SEQUENCE) return undefined;
      throw err;
    }
  }

  /**
   * Calls `changed(key, after)` when any process writes a record of this kind (its own writes
   * too). The message is heard when nats-server receives it, which may be before JetStream has
   * stored it (or refused it): `after` is the revision the write was made against, so a read
   * that still finds `after` or older has come too early.
   */
  watch(changed: (key: string, after: number) => void): () => void {
    let subscription: Subscription | undefined = this.ctx.nc.subscribe(
      this.ctx.subjects.recordsOf(this.kind),
      {
        callback: (_err, message) => {
          const key =
            message === undefined
              ? undefined
              : this.ctx.subjects.keyOfRecord(this.kind, message.subject);
          if (key === undefined) return;
          const expected = Number(message?.headers?.get(EXPECTED_HEADER) ?? "0");
          changed(key, Number.isSafeInteger(expected) ? expected : 0);
        },
      },
    );
    return () => {
      subscription?.unsubscribe();
      subscription = undefined;
    };
  }
}
