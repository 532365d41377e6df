/**
 * Subscriptions are kept in the journal itself, in the reserved stream `__ds/subscriptions`: one
 * JSON record per change (created, deleted, stream linked or unlinked, acknowledged, wake
 * generation), replayed at startup. Every so often the whole state is written as one snapshot
 * record and everything before it is trimmed, so the log stays small. Leases are not kept: after
 * a restart, pending work simply wakes again, with a higher generation.
 */
import type { Journal, Stream } from "../../storage/index.js";

export const SUBSCRIPTIONS_STREAM = "__ds/subscriptions";
const RECORDS_BEFORE_SNAPSHOT = 5000;

export interface SubscriptionConfig {
  type: "webhook" | "pull-wake";
  pattern: string | null;
  webhookUrl: string | null;
  wakeStream: string | null;
  leaseTtlMs: number;
  description: string | null;
  createdAt: string;
  /** Canonical JSON of what the PUT asked for: an identical PUT is a confirmation. */
  configKey: string;
}

export interface StoredLink {
  explicit: boolean;
  glob: boolean;
  /** The position acknowledged up to. */
  acked: number;
}

/** A subscription as the log keeps it (links in a Map: stream paths are not object keys). */
export interface StoredSubscription {
  id: string;
  config: SubscriptionConfig;
  links: Map<string, StoredLink>;
  generation: number;
}

/** The JSON form of a subscription in log records. */
export interface SubscriptionJson {
  id: string;
  config: SubscriptionConfig;
  links: Array<[string, StoredLink]>;
  generation: number;
}

export type LogRecord =
  | { op: "put"; sub: SubscriptionJson }
  | { op: "delete"; id: string }
  | { op: "link"; id: string; path: string; link: StoredLink }
  | { op: "unlink"; id: string; path: string }
  | { op: "ack"; id: string; path: string; acked: number }
  | { op: "generation"; id: string; generation: number }
  | { op: "snapshot"; subs: SubscriptionJson[] };

export function toJson(sub: StoredSubscription): SubscriptionJson {
  return {
    id: sub.id,
    config: sub.config,
    links: [...sub.links].map(([path, link]) => [path, { ...link }]),
    generation: sub.generation,
  };
}

export function fromJson(json: SubscriptionJson): StoredSubscription {
  return {
    id: json.id,
    config: { ...json.config },
    links: new Map(json.links.map(([path, link]) => [path, { ...link }])),
    generation: json.generation,
  };
}

export class SubscriptionLog {
  private sinceSnapshot = 0;

  private constructor(private readonly stream: Stream) {}

  static async open(
    journal: Journal,
  ): Promise<{ log: SubscriptionLog; subs: Map<string, StoredSubscription> }> {
    const stream = await journal.stream(SUBSCRIPTIONS_STREAM);
    const subs = new Map<string, StoredSubscription>();
    const log = new SubscriptionLog(stream);
    for await (const record of stream.read()) {
      apply(subs, JSON.parse(Buffer.from(record.payload).toString("utf8")) as LogRecord);
      log.sinceSnapshot++;
    }
    return { log, subs };
  }

  /** Appends a change (durably, under the journal's durability) and applies it to `subs`. */
  async write(subs: Map<string, StoredSubscription>, record: LogRecord): Promise<void> {
    await this.stream.append(JSON.stringify(record));
    apply(subs, record);
    if (++this.sinceSnapshot >= RECORDS_BEFORE_SNAPSHOT) await this.compact(subs);
  }

  private async compact(subs: Map<string, StoredSubscription>): Promise<void> {
    const { seq } = await this.stream.append(
      JSON.stringify({ op: "snapshot", subs: [...subs.values()].map(toJson) }),
    );
    await this.stream.trim({ before: seq });
    this.sinceSnapshot = 1;
  }
}

/** The records that take a subscription from `before` to `after` (undefined: none there). */
export function recordsBetween(
  id: string,
  before: StoredSubscription | undefined,
  after: StoredSubscription | undefined,
): LogRecord[] {
  if (after === undefined) return before === undefined ? [] : [{ op: "delete", id }];
  if (before === undefined || before.config.configKey !== after.config.configKey) {
    return [{ op: "put", sub: toJson(after) }];
  }
  const records: LogRecord[] = [];
  for (const [path, link] of after.links) {
    const was = before.links.get(path);
    if (
      was === undefined ||
      was.explicit !== link.explicit ||
      was.glob !== link.glob ||
      was.acked !== link.acked
    ) {
      records.push({ op: "link", id, path, link: { ...link } });
    }
  }
  for (const path of before.links.keys()) {
    if (!after.links.has(path)) records.push({ op: "unlink", id, path });
  }
  if (after.generation !== before.generation) {
    records.push({ op: "generation", id, generation: after.generation });
  }
  return records;
}

function apply(subs: Map<string, StoredSubscription>, record: LogRecord): void {
  switch (record.op) {
    case "put":
      subs.set(record.sub.id, fromJson(record.sub));
      return;
    case "delete":
      subs.delete(record.id);
      return;
    case "snapshot":
      subs.clear();
      for (const sub of record.subs) subs.set(sub.id, fromJson(sub));
      return;
    default: {
      const sub = subs.get(record.id);
      if (sub === undefined) return;
      if (record.op === "link") sub.links.set(record.path, { ...record.link });
      else if (record.op === "unlink") sub.links.delete(record.path);
      else if (record.op === "ack") {
        const link = sub.links.get(record.path);
        if (link !== undefined) link.acked = Math.max(link.acked, record.acked);
      } else sub.generation = Math.max(sub.generation, record.generation);
    }
  }
}
