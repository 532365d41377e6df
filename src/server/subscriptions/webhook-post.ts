/**
 * One signed wake POSTed to a subscription's webhook: bounded in time and in the bytes of the
 * answer read, never following redirects. Resolves with the worker's JSON reply (`{done: true}`
 * acknowledges at once); rejects on a non-2xx answer or a network failure.
 */
import type { WebhookSigner } from "./signing.js";

const WEBHOOK_TIMEOUT_MS = 10_000;
const WEBHOOK_RESPONSE_BYTES_MAX = 64 * 1024;

export async function postWake(
  url: string,
  body: string,
  signer: WebhookSigner,
  nowMs: number,
): Promise<{ done?: unknown }> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "webhook-signature": signer.signatureHeader(body, nowMs),
    },
    body,
    redirect: "error",
    signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
  });
  const text = (await response.text()).slice(0, WEBHOOK_RESPONSE_BYTES_MAX);
  if (!response.ok) throw new Error(`the webhook answered ${response.status}`);
  try {
    const reply: unknown = text.length === 0 ? {} : JSON.parse(text);
    return typeof reply === "object" && reply !== null ? reply : {};
  } catch {
    return {};
  }
}
