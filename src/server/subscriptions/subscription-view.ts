/**
 * How a subscription is shown (`GET`, and the body of `PUT`) and how its streams are listed in a
 * wake: each linked stream's tail against what the subscription acknowledged.
 */
import { formatOffset } from "../streams/offsets.js";
import type { StoredSubscription } from "./subscription-log.js";

export interface StreamInfo {
  path: string;
  link_type: "explicit" | "glob";
  tail_offset: string;
  acked_offset: string;
  has_pending: boolean;
}

export function streamInfos(
  stored: StoredSubscription,
  tail: (path: string) => number,
): StreamInfo[] {
  return [...stored.links].map(([path, link]) => {
    const at = tail(path);
    return {
      path,
      link_type: link.explicit ? "explicit" : "glob",
      tail_offset: formatOffset(at),
      acked_offset: formatOffset(link.acked),
      has_pending: at > link.acked,
    };
  });
}

export function subscriptionView(
  stored: StoredSubscription,
  tail: (path: string) => number,
  signing: { kid: string | null; baseUrl: string },
): object {
  const { config } = stored;
  return {
    id: stored.id,
    subscription_id: stored.id,
    type: config.type,
    ...(config.pattern === null ? {} : { pattern: config.pattern }),
    streams: streamInfos(stored, tail).map(({ path, link_type, acked_offset }) => ({
      path,
      link_type,
      acked_offset,
    })),
    ...(config.webhookUrl === null
      ? {}
      : {
          webhook: {
            url: config.webhookUrl,
            signing: {
              alg: "ed25519",
              kid: signing.kid,
              jwks_url: `${signing.baseUrl}/v1/stream/__ds/jwks.json`,
            },
          },
        }),
    ...(config.wakeStream === null ? {} : { wake_stream: config.wakeStream }),
    lease_ttl_ms: config.leaseTtlMs,
    created_at: config.createdAt,
    status: "active",
    ...(config.description === null ? {} : { description: config.description }),
  };
}
