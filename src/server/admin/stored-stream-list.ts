/**
 * `GET /v1/streams` on a shared store (JetStream): every stream the store holds, whichever
 * process made it, not just those this process has opened. The store gives the names (one
 * request: the metadata stream's subject list) and then the metadata of a page's streams only
 * (`summaries`), so a page costs one pass over the names and O(limit) metadata reads, never an
 * open of each stream. Only the name order is offered: the other orders need every stream's
 * records. Rows carry what the metadata says (stream-view.ts `summaryRow`).
 *
 * Invariants, as the journal's list (stream-list.ts): the prefix, the token's scopes and the
 * reserved namespaces filter the names; expired streams and those deleted but kept for their
 * forks are left out of a page; `after` is the last name of the previous page.
 */
import { TidemarkError } from "../../errors.js";
import { OUTBOX_PREFIX } from "../../outbox/index.js";
import type { StreamStore } from "../store/stream-store.js";
import { RESERVED_PREFIX } from "../streams/ds-registry.js";
import type { ListQuery } from "./stream-list.js";
import { isSummaryListed, summaryRow } from "./stream-view.js";
import type { StreamPage, StreamRow } from "./wire-types.js";

/** Metadata reads per step while filling a page: a few more than it needs, for hidden ones. */
const SLACK_NAMES = 8;

export async function listStoredStreams(
  store: StreamStore,
  query: ListQuery,
  canRead: (path: string) => boolean,
  nowMs: number,
): Promise<StreamPage> {
  const summaries = store.summaries?.bind(store);
  if (summaries === undefined) {
    throw new TidemarkError("INTERNAL", `the ${store.kind} store cannot list its streams`);
  }
  if (query.sort !== "name") {
    throw new TidemarkError(
      "INVALID_REQUEST",
      `on ${store.kind === "jetstream" ? "JetStream" : store.kind} the stream list sorts by name only (sort=name)`,
    );
  }
  const names = (await store.names()).filter(
    (name) =>
      name.startsWith(query.prefix) &&
      !name.startsWith(RESERVED_PREFIX) &&
      !name.startsWith(OUTBOX_PREFIX) &&
      canRead(name),
  );
  names.sort();
  if (query.descending) names.reverse();
  const cursor = query.after?.name;
  const past = (name: string) =>
    cursor === undefined || (query.descending ? name < cursor : name > cursor);
  let next = names.findIndex(past);
  if (next < 0) next = names.length;
  const rows: StreamRow[] = [];
  while (rows.length < query.limit && next < names.length) {
    const chunk = names.slice(next, next + query.limit - rows.length + SLACK_NAMES);
    next += chunk.length;
    for (const summary of await summaries(chunk)) {
      if (!isSummaryListed(summary, nowMs)) continue;
      if (rows.length === query.limit) {
        next = names.indexOf(summary.name); // the next page starts here
        break;
      }
      rows.push(summaryRow(summary));
    }
  }
  const last = rows.at(-1);
  return {
    streams: rows,
    total: names.length,
    next: last !== undefined && next < names.length ? last.name : null,
    store: store.kind,
    sorts: ["name"],
  };
}
