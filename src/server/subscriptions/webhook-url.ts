/**
 * Which webhook URLs a subscription may call: http(s) only, and never an address inside a
 * private network (a subscription must not become a way to probe it), except loopback, which is
 * how a worker on the same machine is reached. Host names are checked again when resolved.
 */
import { isIP } from "node:net";

export function webhookUrlProblem(raw: unknown): string | undefined {
  if (typeof raw !== "string" || raw.length > 2048) return "webhook.url must be a URL";
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "webhook.url is not a valid URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return "webhook.url must be http or https";
  if (url.username !== "" || url.password !== "") return "webhook.url must not carry credentials";
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (isIP(host) !== 0 && privateAddress(host))
    return `webhook.url points into a private network (${host})`;
  return undefined;
}

/** True for private, link-local, unspecified, multicast and reserved addresses; loopback is allowed. */
export function privateAddress(address: string): boolean {
  if (isIP(address) === 4) {
    const [a, b] = address.split(".").map(Number) as [number, number];
    if (a === 127) return false;
    return (
      a === 0 ||
      a === 10 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 169 && b === 254) ||
      (a === 100 && b >= 64 && b <= 127) ||
      a >= 224
    );
  }
  const lower = address.toLowerCase();
  if (lower === "::1") return false;
  if (lower.startsWith("::ffff:")) return privateAddress(lower.slice(7));
  return (
    lower === "::" ||
    lower.startsWith("fc") ||
    lower.startsWith("fd") ||
    lower.startsWith("fe8") ||
    lower.startsWith("fe9") ||
    lower.startsWith("fea") ||
    lower.startsWith("feb") ||
    lower.startsWith("ff")
  );
}
