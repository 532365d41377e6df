/**
 * Records read in batches (StoredStream.readBatches on JetStream): at most `max` records and
 * about 4 MiB of payload per batch, at least one record, so a batch of 4,096 records of 64 KiB
 * does not hold 256 MiB at once.
 */

/** Payload bytes of one batch, past which it ends (a batch holds at least one record). */
const BATCH_BYTES_MAX = 4 * 1024 * 1024;

interface PayloadRecord {
  readonly payload: Uint8Array;
}

export function recordBatches<T extends PayloadRecord>(records: AsyncGenerator<T>) {
  return {
    async nextBatch(max: number): Promise<T[] | undefined> {
      const batch: T[] = [];
      let bytes = 0;
      while (batch.length < max && bytes < BATCH_BYTES_MAX) {
        const next = await records.next();
        if (next.done === true) break;
        batch.push(next.value);
        bytes += next.value.payload.byteLength;
      }
      return batch.length === 0 ? undefined : batch;
    },
    return: () => records.return(undefined),
  };
}
