/**
 * Calling NATS with bounded patience. A JetStream request can fail for a while for reasons that
 * pass: a leader election (503 no responders, which the 3.x client reports as
 * `JetStreamNotEnabled`), a reconnect, a timeout. Those are retried with a growing pause until
 * `patienceMs` is spent, then surface as STORE_UNAVAILABLE (503 with Retry-After). Anything else
 * (a compare-and-set that lost, a bad request) is the caller's to handle, at once.
 */
import { TidemarkError } from "../errors.js";

const PAUSE_FIRST_MS = 25;
const PAUSE_MAX_MS = 500;

/** Errors that say "not now" rather than "no". */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const name = err.name;
  if (
    name === "JetStreamNotEnabled" ||
    name === "NoRespondersError" ||
    name === "TimeoutError" ||
    name === "RequestError" ||
    name === "ConnectionError" ||
    name === "ClosedConnectionError" ||
    name === "DrainingConnectionError"
  ) {
    return true;
  }
  const text = err.message.toLowerCase();
  return (
    text.includes("no responders") ||
    text.includes("timeout") ||
    text.includes("jetstream not enabled") ||
    text.includes("no suitable peers") ||
    text.includes("temporarily unavailable")
  );
}

/** The JetStream API error code (10071: wrong last sequence…), if the error carries one. */
export function apiCode(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "number") return code;
  const api = (err as { apiError?: () => { err_code?: number } }).apiError;
  return typeof api === "function" ? api.call(err).err_code : undefined;
}

export async function patiently<T>(
  what: string,
  patienceMs: number,
  call: () => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + patienceMs;
  let pause = PAUSE_FIRST_MS;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!isTransient(err)) throw err;
      if (Date.now() + pause > deadline) {
        throw new TidemarkError(
          "STORE_UNAVAILABLE",
          `NATS JetStream did not answer ${what} within ${patienceMs} ms (${(err as Error).message}); try again`,
          {},
          err,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(PAUSE_MAX_MS, pause * 2);
    }
  }
}
