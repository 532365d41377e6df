/**
 * A durable consumer of a stream: a name and the last seq it acknowledged. Positions survive
 * crashes and never move backwards; with retention 'acked', a stream releases what all of its
 * consumers have acknowledged. A consumer is durable from its first acknowledgement.
 */
import type { ConsumerStore } from "./consumer-store.js";

export class Consumer {
  /** @internal */
  constructor(
    private readonly store: ConsumerStore,
    readonly name: string,
  ) {}

  /** The last acknowledged seq (for a new consumer: the seq before the first one held). */
  get position(): number {
    return this.store.position(this.name);
  }

  /** When the last acknowledgement was stored (ms), or null before the first. */
  get ackedAt(): number | null {
    return this.store.ackedAt(this.name);
  }

  /**
   * Acknowledges every record up to `seq`; resolves with the position once it is stored (synced,
   * under durability 'always'). An older seq than the position changes nothing.
   */
  ack(seq: number): Promise<number> {
    return this.store.ack(this.name, seq);
  }
}
