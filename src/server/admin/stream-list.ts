/**
 * `GET /v1/streams`: one page of the streams a token may read, filtered by name prefix and
 * sorted, on the server, so a page stays cheap with 100,000 streams. No state is kept between
 * pages: `after` is a cursor (the last name for the name order; `<value>,<name>` for the other
 * orders), and each request picks the `limit` first items past it with a bounded heap, so a
 * page costs one pass over the streams and O(limit) memory, never a sort of all of them.
 * Figures change while someone pages (a stream grows): pages of a sort by a figure can then
 * repeat or miss a stream; pages by name cannot.
 */
import { TidemarkError } from "../../errors.js";
import type { DsStream } from "../streams/ds-stream.js";
import { isListed, sortValue, streamRow } from "./stream-view.js";
import type { StreamPage, StreamSort } from "./wire-types.js";

export const LIST_LIMIT_DEFAULT = 100;
export const LIST_LIMIT_MAX = 1000;
export const SORTS: readonly StreamSort[] = ["name", "records", "bytes", "lastAppendAt", "full"];

export interface ListQuery {
  prefix: string;
  after: Cursor | null;
  limit: number;
  sort: StreamSort;
  descending: boolean;
}

/** A position in a sorted list: a stream's sort value (null for the name order) and name. */
export interface Cursor {
  value: number | null;
  name: string;
}

export function parseListQuery(query: URLSearchParams): ListQuery {
  const sort = (one(query, "sort") ?? "name") as StreamSort;
  if (!SORTS.includes(sort)) {
    throw new TidemarkError("INVALID_REQUEST", `sort must be one of ${SORTS.join(", ")}`);
  }
  const order = one(query, "order") ?? (sort === "name" ? "asc" : "desc");
  if (order !== "asc" && order !== "desc") {
    throw new TidemarkError("INVALID_REQUEST", "order must be asc or desc");
  }
  const limitText = one(query, "limit");
  const limit = limitText === undefined ? LIST_LIMIT_DEFAULT : Number(limitText);
  if (!/^\d+$/.test(limitText ?? "1") || limit < 1 || limit > LIST_LIMIT_MAX) {
    throw new TidemarkError("INVALID_REQUEST", `limit must be 1–${LIST_LIMIT_MAX}`);
  }
  const after = one(query, "after");
  return {
    prefix: one(query, "prefix") ?? "",
    after: after === undefined || after === "" ? null : parseCursor(after, sort),
    limit,
    sort,
    descending: order === "desc",
  };
}

export function listStreams(
  streams: Iterable<DsStream>,
  query: ListQuery,
  canRead: (path: string) => boolean,
  nowMs: number,
): StreamPage {
  const compare = comparator(query.sort, query.descending);
  const page = new BoundedHeap<Cursor & { ds: DsStream }>(query.limit, compare);
  let total = 0;
  for (const ds of streams) {
    if (!ds.path.startsWith(query.prefix) || !isListed(ds, nowMs) || !canRead(ds.path)) continue;
    total++;
    const item = {
      value: query.sort === "name" ? null : sortValue(ds, query.sort),
      name: ds.path,
      ds,
    };
    if (query.after !== null && compare(item, query.after) <= 0) continue;
    page.offer(item);
  }
  const items = page.sorted();
  const last = items.at(-1);
  // A full page may have a next one; the cursor says where it starts.
  const more = last !== undefined && items.length === query.limit;
  return {
    streams: items.map((item) => streamRow(item.ds)),
    total,
    next: more ? formatCursor(last, query.sort) : null,
    store: "journal",
    sorts: [...SORTS],
  };
}

/** Name order, or figure order with ties by name (ascending either way, so pages are stable). */
function comparator(sort: StreamSort, descending: boolean): (a: Cursor, b: Cursor) => number {
  const byName = (a: Cursor, b: Cursor) => (a.name === b.name ? 0 : a.name < b.name ? -1 : 1);
  if (sort === "name") return descending ? (a, b) => byName(b, a) : byName;
  return (a, b) => {
    // Streams without the figure (no limit, no append yet) sort as the lowest.
    const left = a.value ?? -1;
    const right = b.value ?? -1;
    if (left !== right) return descending ? right - left : left - right;
    return byName(a, b);
  };
}

function parseCursor(text: string, sort: StreamSort): Cursor {
  if (sort === "name") return { value: null, name: text };
  const comma = text.indexOf(",");
  const valueText = text.slice(0, comma);
  const value = valueText === "null" ? null : Number(valueText);
  if (comma < 0 || (value !== null && (valueText === "" || !Number.isFinite(value)))) {
    throw new TidemarkError(
      "INVALID_REQUEST",
      "after must be the `next` of the previous page (`<value>,<name>` for this sort)",
    );
  }
  return { value, name: text.slice(comma + 1) };
}

function formatCursor(cursor: Cursor, sort: StreamSort): string {
  return sort === "name"
    ? cursor.name
    : `${cursor.value === null ? "null" : cursor.value},${cursor.name}`;
}

function one(query: URLSearchParams, name: string): string | undefined {
  const values = query.getAll(name);
  if (values.length > 1) throw new TidemarkError("INVALID_REQUEST", `${name} must be given once`);
  return values[0];
}

/** The `size` smallest items offered, by `compare`: a max-heap that drops its largest. */
export class BoundedHeap<T> {
  private readonly items: T[] = [];

  constructor(
    private readonly size: number,
    private readonly compare: (a: T, b: T) => number,
  ) {}

  offer(item: T): void {
    const { items, compare } = this;
    if (items.length < this.size) {
      items.push(item);
      this.up(items.length - 1);
    } else if (compare(item, items[0]!) < 0) {
      items[0] = item;
      this.down(0);
    }
  }

  sorted(): T[] {
    return [...this.items].sort(this.compare);
  }

  private up(i: number): void {
    const { items, compare } = this;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (compare(items[i]!, items[parent]!) <= 0) return;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  private down(i: number): void {
    const { items, compare } = this;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let largest = i;
      if (left < items.length && compare(items[left]!, items[largest]!) > 0) largest = left;
      if (right < items.length && compare(items[right]!, items[largest]!) > 0) largest = right;
      if (largest === i) return;
      [items[i], items[largest]] = [items[largest]!, items[i]!];
      i = largest;
    }
  }
}
