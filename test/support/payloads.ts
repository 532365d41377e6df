/**
 * Deterministic payloads: a test can rebuild, from an id alone, the exact bytes appended. About
 * one in a hundred is over 64 KiB, so large payloads (written from where they are, without a
 * copy) are mixed in with small ones.
 */
export function payloadFor(id: string): string {
  let hash = 2166136261;
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 16777619) >>> 0;
  return `${id}|${"z".repeat(hash % 101 === 0 ? 66_000 + (hash % 400) : hash % 400)}`;
}

/** The id a payload was built from, or undefined if the bytes are not such a payload. */
export function idOf(payload: Uint8Array): string | undefined {
  const text = Buffer.from(payload).toString("utf8");
  const id = text.slice(0, text.indexOf("|"));
  return id.length > 0 && payloadFor(id) === text ? id : undefined;
}
