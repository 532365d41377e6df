/**
 * Fixtures in the formats of the hand-rolled logs tidemark replaces (shared/seeds/), written the
 * way those programs write them, including what their crashes leave behind: a torn last line, a
 * line two unlocked writers interleaved, a partial record, a file cut before its rename, an
 * outbox entry whose metadata never got written. Written here from the formats' descriptions,
 * not copied from the programs.
 */
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** A run ledger's `events.ndjson`: JSON.stringify(event) + "\n" per append, no lock. */
export function runLedger(dir: string) {
  const base = Date.UTC(2026, 2, 1, 12);
  const events = Array.from({ length: 8 }, (_, i) => ({
    id: `ev-${i}`,
    taskId: `task-${i % 3}`,
    type: i % 2 === 0 ? "tool-call" : "decision",
    timestamp: base + i * 1000,
    payload: { step: i, note: `step ${i} done` },
  }));
  const lines = events.map((e) => JSON.stringify(e));
  // Two appends that raced without the lock: one line holds half of each.
  const garbled = `${lines[3]!.slice(0, 30)}${lines[4]!.slice(10)}`;
  const text = [...lines.slice(0, 4), garbled, ...lines.slice(4)].join("\n") + "\n";
  const torn = '{"id":"ev-8","taskId":"task-2","type":"decis';
  const path = join(dir, "events.ndjson");
  writeFileSync(path, text + torn);
  return { path, events, garbledLine: 5, tornByte: Buffer.byteLength(text) };
}

/** A change feed: `events-<20-digit start seq>.jsonl`, one `{"seq","ts",…}` line per event. */
export function jsonlSegments(dir: string) {
  mkdirSync(dir, { recursive: true });
  const base = Date.UTC(2026, 3, 1);
  const line = (seq: number) =>
    JSON.stringify({
      seq,
      ts: new Date(base + seq * 250).toISOString().replace("Z", "123456Z"),
      session_id: `s${seq}`,
      event: { type: "SessionUpdated", session_id: `s${seq}` },
    });
  const name = (seq: number) => `events-${String(seq).padStart(20, "0")}.jsonl`;
  // Files 1..4 were pruned. The first file left was being written when the process crashed:
  // its last line is torn inside a multi-byte character. The restarted writer began a new file.
  const first = [5, 6, 7].map(line).join("\n") + "\n";
  const torn = Buffer.concat([
    Buffer.from('{"seq":8,"ts":"2026-04-01T00:00:02Z","event":{"note":"caf'),
    Buffer.from([0xc3]),
  ]);
  writeFileSync(join(dir, name(5)), Buffer.concat([Buffer.from(first), torn]));
  // Seq 10 never reached the disk (no fsync before a power loss).
  const second = [8, 9, 11, 12].map(line).join("\n") + "\n";
  writeFileSync(join(dir, name(8)), second);
  writeFileSync(join(dir, "README.txt"), "not a journal file");
  const seqs = [5, 6, 7, 8, 9, 11, 12];
  return {
    seqs,
    timestamps: seqs.map((seq) =>
      Date.parse(new Date(base + seq * 250).toISOString().replace("Z", "123456Z")),
    ),
    lost: [[10, 10]],
    tornFile: name(5),
    tornLine: 4,
    tornByte: Buffer.byteLength(first),
  };
}

/** A ring-buffer file: `[seq u64 BE][length u32 BE][data]` per chunk, appended with no checksum. */
export function seqLenFile(
  path: string,
  options: { seqs: number[]; tornBytes: number; garbleLengthOf?: number },
) {
  const parts: Buffer[] = [];
  const records: Array<{ seq: number; data: string }> = [];
  let at = 0;
  let garbledAt = -1;
  for (const [i, seq] of options.seqs.entries()) {
    const data = `chunk ${seq}: ${"~".repeat(seq % 5)}\r\n`;
    const header = Buffer.alloc(12);
    header.writeBigUInt64BE(BigInt(seq), 0);
    header.writeUInt32BE(i === options.garbleLengthOf ? 0xfffffff0 : Buffer.byteLength(data), 8);
    if (i === options.garbleLengthOf) garbledAt = at;
    parts.push(header, Buffer.from(data));
    records.push({ seq, data });
    at += 12 + Buffer.byteLength(data);
  }
  const tornAt = at;
  if (options.tornBytes > 0)
    parts.push(Buffer.from([0, 0, 0, 0, 0, 0, 0, 99, 0, 0, 0].slice(0, options.tornBytes)));
  writeFileSync(path, Buffer.concat(parts));
  return { records, tornAt, garbledAt, mtimeMs: Math.floor(statSync(path).mtimeMs) };
}

/** An agent's crash buffer: a JSON document with an `entries` array, rewritten whole per flush. */
export function jsonBuffer(
  path: string,
  options: { agentType: string; entries: number; cutAfter?: number },
) {
  const base = Date.UTC(2026, 4, 1, 8);
  const entries = Array.from({ length: options.entries }, (_, i) => ({
    timestamp: new Date(base + i * 60_000).toISOString(),
    context_type: i === 0 ? "session-start" : "checkpoint",
    context: { agent: options.agentType, turn: i, summary: `turn ${i} — ünïcödé` },
  }));
  const head = `{\n  "started_at": "${new Date(base).toISOString()}",\n  "entries": [\n`;
  const rendered = entries.map((e) => `    ${JSON.stringify(e)}`);
  const text = `${head}${rendered.join(",\n")}\n  ],\n  "last_flush": null,\n  "agent_type": "${options.agentType}"\n}`;
  let cutByte = -1;
  if (options.cutAfter === undefined) writeFileSync(path, text);
  else {
    const before = head + rendered.slice(0, options.cutAfter).join(",\n") + ",\n    ";
    cutByte = Buffer.byteLength(before);
    const partial = JSON.stringify(entries[options.cutAfter]).slice(0, 25);
    writeFileSync(path, before + partial);
  }
  return { entries, cutByte };
}

/** An offline outbox: `<id>/meta.json` + `<id>/body.bin` per queued write; 412s renamed aside. */
export function outboxDir(dir: string) {
  mkdirSync(dir, { recursive: true });
  const startNs = BigInt(Date.UTC(2026, 5, 1)) * 1_000_000n;
  const writes = [
    {
      method: "PUT",
      raw_uri: "/docs/plan.md",
      body: "# Plan v2",
      base: "2026-05-31T10:00:00Z",
      conflict: false,
    },
    {
      method: "PUT",
      raw_uri: "/docs/notes.txt?rev=3",
      body: "notes",
      base: "0001-01-01T00:00:00Z",
      conflict: true,
    },
    {
      method: "DELETE",
      raw_uri: "/docs/old.md",
      body: "",
      base: "2026-05-30T09:00:00Z",
      conflict: false,
    },
    {
      method: "PUT",
      raw_uri: "/docs/plan.md",
      body: "# Plan v3",
      base: "2026-05-31T10:00:00Z",
      conflict: false,
    },
  ];
  const pending: Array<{ method: string; raw_uri: string; body: string; base_mod_time: string }> =
    [];
  const conflicts: Array<{ raw_uri: string }> = [];
  writes.forEach((w, i) => {
    const id = `${(startNs + BigInt(i) * 1000n).toString(16).padStart(16, "0")}-a1b2c${i}`;
    const name = w.conflict ? `${id}.conflict-20260601T000000Z` : id;
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, "body.bin"), w.body);
    const meta = {
      id,
      method: w.method,
      raw_uri: w.raw_uri,
      content_type: "text/markdown",
      base_mod_time: w.base,
      queued_at: "2026-06-01T00:00:00Z",
    };
    writeFileSync(join(dir, name, "meta.json"), JSON.stringify(meta, null, "  "));
    if (w.conflict) conflicts.push({ raw_uri: w.raw_uri });
    else
      pending.push({ method: w.method, raw_uri: w.raw_uri, body: w.body, base_mod_time: w.base });
  });
  // A crash between the body and its metadata: the entry directory holds only body.bin.
  const halfWritten = `${(startNs + 9000n).toString(16).padStart(16, "0")}-ffffff`;
  mkdirSync(join(dir, halfWritten));
  writeFileSync(join(dir, halfWritten, "body.bin"), "never queued");
  return { pending, conflicts, halfWritten };
}
