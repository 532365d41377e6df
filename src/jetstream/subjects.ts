/**
 * Where tidemark keeps Durable Streams in JetStream (docs/jetstream.md): two JetStream streams
 * per deployment, named after the configured prefix, and a subject per Durable Streams stream in
 * each. A path becomes one subject token as its UTF-8 bytes in base64url, so any path (dots,
 * spaces, `*`, `>`) is a single, reversible token.
 *
 * - `<prefix>.d.<path>` in `<PREFIX>_DATA`: the stream's records (record-frames.ts).
 * - `<prefix>.m.<path>` in `<PREFIX>_META`: its metadata, one message kept per subject.
 * - `<prefix>.f.<source>.<fork>` in `<PREFIX>_META`: one per live fork of `source`.
 * - `<prefix>.a.<path>` in `<PREFIX>_META`: when a stream with a sliding TTL was last used.
 * - `<prefix>.r.<kind>.<key>` in `<PREFIX>_META`: the server's shared records (subscriptions,
 *   webhook public keys; shared-records.ts), one message kept per subject.
 */

export interface Subjects {
  readonly dataStream: string;
  readonly metaStream: string;
  data(path: string): string;
  meta(path: string): string;
  fork(source: string, fork: string): string;
  access(path: string): string;
  forksOf(source: string): string;
  record(kind: string, key: string): string;
  recordsOf(kind: string): string;
  /** The key of a record subject of `kind`, or undefined if it is not one. */
  keyOfRecord(kind: string, subject: string): string | undefined;
  readonly allData: string;
  readonly allMeta: string[];
  /** The path of a meta subject, or undefined if it is not one. */
  pathOfMeta(subject: string): string | undefined;
}

/** A prefix is a subject token and part of a stream name: letters, digits, `_` and `-`. */
export const PREFIX_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

export function subjectsFor(prefix: string): Subjects {
  const token = (path: string) => Buffer.from(path, "utf8").toString("base64url");
  const upper = prefix.toUpperCase();
  return {
    dataStream: `${upper}_DATA`,
    metaStream: `${upper}_META`,
    data: (path) => `${prefix}.d.${token(path)}`,
    meta: (path) => `${prefix}.m.${token(path)}`,
    fork: (source, fork) => `${prefix}.f.${token(source)}.${token(fork)}`,
    access: (path) => `${prefix}.a.${token(path)}`,
    forksOf: (source) => `${prefix}.f.${token(source)}.*`,
    allData: `${prefix}.d.>`,
    record: (kind, key) => `${prefix}.r.${kind}.${token(key)}`,
    recordsOf: (kind) => `${prefix}.r.${kind}.*`,
    keyOfRecord: (kind, subject) => {
      const head = `${prefix}.r.${kind}.`;
      if (!subject.startsWith(head)) return undefined;
      return Buffer.from(subject.slice(head.length), "base64url").toString("utf8");
    },
    allMeta: [`${prefix}.m.>`, `${prefix}.f.>`, `${prefix}.a.>`, `${prefix}.r.>`],
    pathOfMeta: (subject) => {
      const head = `${prefix}.m.`;
      if (!subject.startsWith(head)) return undefined;
      return Buffer.from(subject.slice(head.length), "base64url").toString("utf8");
    },
  };
}
