/**
 * Idempotent producers that never give up on an append, for the fault tests: each sends its
 * messages in order with `Producer-Id/Epoch/Seq`, and on anything but a 2xx (a refused
 * connection, a reset, a 503) sends the same message with the same seq again, to the next
 * server in its list. What they were told is recorded, so a test can compare it with what the
 * stream holds: every acknowledged message exactly once, in each producer's order.
 */

export interface ProducerRun {
  /** Messages acknowledged (200 appended, or 204 duplicate of one that was). */
  acknowledged: number;
  /** Sends that failed and were retried. */
  retries: number;
  /** Retries answered 204: the failed send had in fact been stored. */
  duplicates: number;
}

export interface ProducerLoad {
  urls: () => string[];
  path: string;
  producers: number;
  messages: number;
  /** Gives up (the test fails) if a message cannot be acknowledged within this long. */
  patienceMs?: number;
  onAck?: (total: number) => void;
}

export function message(producer: number, seq: number): { p: number; s: number } {
  return { p: producer, s: seq };
}

export async function runRetryingProducers(load: ProducerLoad): Promise<ProducerRun> {
  const run: ProducerRun = { acknowledged: 0, retries: 0, duplicates: 0 };
  let turn = 0;
  await Promise.all(
    Array.from({ length: load.producers }, async (_, producer) => {
      for (let seq = 0; seq < load.messages; seq++) {
        const deadline = Date.now() + (load.patienceMs ?? 60_000);
        let retried = false;
        for (;;) {
          const urls = load.urls();
          const base = urls[turn++ % urls.length]!;
          let status = 0;
          try {
            const response = await fetch(`${base}/v1/stream/${load.path}`, {
              method: "POST",
              headers: {
                "content-type": "application/json",
                "producer-id": `p${producer}`,
                "producer-epoch": "0",
                "producer-seq": String(seq),
              },
              body: JSON.stringify(message(producer, seq)),
              signal: AbortSignal.timeout(20_000),
            });
            status = response.status;
            await response.arrayBuffer();
          } catch {
            status = 0;
          }
          if (status === 200 || status === 204) {
            if (status === 204 && retried) run.duplicates++;
            run.acknowledged++;
            load.onAck?.(run.acknowledged);
            break;
          }
          if (status !== 0 && status < 500) {
            throw new Error(`producer ${producer} seq ${seq}: refused with ${status}`);
          }
          if (Date.now() > deadline) {
            throw new Error(`producer ${producer} seq ${seq}: not acknowledged in time`);
          }
          run.retries++;
          retried = true;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    }),
  );
  return run;
}

/** Reads the whole JSON stream and checks it holds each producer's messages once, in order. */
export async function checkExactlyOnce(
  url: string,
  path: string,
  producers: number,
  messages: number,
): Promise<{ total: number; problems: string[] }> {
  const response = await fetch(`${url}/v1/stream/${path}?offset=-1`);
  const held = (await response.json()) as Array<{ p: number; s: number }>;
  const next = Array.from({ length: producers }, () => 0);
  const problems: string[] = [];
  for (const { p, s } of held) {
    if (s !== next[p]) problems.push(`producer ${p}: expected seq ${next[p]}, found ${s}`);
    next[p] = s + 1;
  }
  for (let p = 0; p < producers; p++) {
    if (next[p] !== messages) problems.push(`producer ${p}: ends at ${next[p]} of ${messages}`);
  }
  return { total: held.length, problems: problems.slice(0, 20) };
}
