/**
 * `--format json-buffer`: a JSON file holding an `entries` array whose entries each have a
 * `timestamp` (RFC 3339, or ms), as an agent's crash-recovery buffer (`<agent>.json`) keeps them.
 * Each entry becomes one record (its JSON, as the file has it) stamped with its timestamp,
 * numbered 1, 2, 3… in file order. The stream is named by `--stream`, else the file's
 * `agent_type`, else the file name.
 *
 * A file cut off part way (a crash before the rename that should have made it whole, or a
 * `.json.tmp` left behind) is not valid JSON: the entries that are complete before the cut are
 * imported and the cut is reported with its byte offset.
 */
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import type { Journal } from "../../index.js";
import { cliError } from "../journal-access.js";
import type { ImportReport } from "./import-report.js";
import { RecordTarget } from "./record-target.js";

/** A crash buffer is small (it is rewritten whole on every flush); larger is not one. */
const FILE_BYTES_MAX = 256 * 1024 * 1024;

export interface JsonBufferOptions {
  stream?: string;
  append: boolean;
}

export async function importJsonBufferFile(
  path: string,
  journal: Journal,
  options: JsonBufferOptions,
  report: ImportReport,
): Promise<number> {
  const bytes = await readFile(path);
  if (bytes.byteLength > FILE_BYTES_MAX) {
    throw cliError(
      "INVALID_ARGUMENT",
      `${path} is ${bytes.byteLength} bytes; a json-buffer file is at most ${FILE_BYTES_MAX}`,
    );
  }
  const text = bytes.toString("utf8");
  const { entries, agentType, cutAt } = scanEntries(text);
  if (entries === undefined) {
    throw cliError("INVALID_ARGUMENT", `${path} holds no "entries" array: not a json-buffer file`);
  }
  if (cutAt !== undefined) {
    const byte = Buffer.byteLength(text.slice(0, cutAt.index));
    report.problem({
      source: path,
      byte,
      bytes: bytes.byteLength - byte,
      kind: "torn",
      reason: `the file is cut off (${cutAt.why}); the ${entries.length} complete entries before it were imported, the rest is not`,
    });
  }
  const name = options.stream ?? agentType ?? basename(path).replace(/\.json(\.tmp)?$/, "");
  let target: RecordTarget | undefined;
  let lastTs = Date.now();
  try {
    for (const entry of entries) {
      let value: unknown;
      try {
        value = JSON.parse(entry.text);
      } catch {
        report.problem({
          source: path,
          byte: Buffer.byteLength(text.slice(0, entry.index)),
          kind: "garbled",
          reason: "an entry is not valid JSON; not imported",
        });
        continue;
      }
      const ts = timestampOf(value);
      if (ts !== undefined) lastTs = ts;
      target ??= await RecordTarget.open(journal, name, {
        append: options.append,
        ownSeqs: false,
        timestamps: "the entries' timestamp fields",
        createdAtMs: Math.min(lastTs, Date.now()),
      });
      const pending = target.add(undefined, lastTs, Buffer.from(entry.text, "utf8"));
      if (pending !== undefined) await pending;
    }
    if (target !== undefined) report.streams.push(await target.finish());
  } catch (err) {
    await target?.abort();
    throw err;
  }
  return bytes.byteLength;
}

function timestampOf(value: unknown): number | undefined {
  const ts = (value as { timestamp?: unknown } | null)?.timestamp;
  if (typeof ts === "number" && Number.isSafeInteger(ts) && ts >= 0) return ts;
  if (typeof ts === "string") {
    const ms = Date.parse(ts);
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  return undefined;
}

interface ScannedEntries {
  /** The text of each complete entry, and where it starts. */
  entries: Array<{ text: string; index: number }> | undefined;
  agentType: string | undefined;
  /** Where the text ends before the document is complete. */
  cutAt?: { index: number; why: string };
}

/**
 * Finds the `entries` array of a JSON object and the text of each element, without parsing the
 * whole document, so a document cut off part way still yields the entries before the cut.
 */
export function scanEntries(text: string): ScannedEntries {
  try {
    const whole = JSON.parse(text) as { entries?: unknown; agent_type?: unknown };
    if (!Array.isArray(whole.entries)) return { entries: undefined, agentType: undefined };
    const located = locateEntries(text);
    const agentType =
      typeof whole.agent_type === "string" && whole.agent_type.length > 0
        ? whole.agent_type
        : undefined;
    return { entries: located.entries, agentType };
  } catch {
    const located = locateEntries(text);
    const agent = /"agent_type"\s*:\s*("(?:[^"\\]|\\.)*")/.exec(text);
    let agentType: string | undefined;
    if (agent !== null) {
      try {
        agentType = JSON.parse(agent[1]!) as string;
      } catch {
        agentType = undefined;
      }
    }
    return {
      entries: located.entries,
      agentType,
      cutAt: located.cutAt ?? { index: text.length, why: "the document does not end" },
    };
  }
}

function locateEntries(text: string): {
  entries: Array<{ text: string; index: number }> | undefined;
  cutAt?: { index: number; why: string };
} {
  const key = /"entries"\s*:\s*\[/g;
  const match = key.exec(text);
  if (match === null) return { entries: undefined };
  const entries: Array<{ text: string; index: number }> = [];
  let i = match.index + match[0].length;
  for (;;) {
    while (i < text.length && /[\s,]/.test(text[i]!)) i++;
    if (i >= text.length)
      return { entries, cutAt: { index: i, why: "it ends inside the entries array" } };
    if (text[i] === "]") return { entries };
    const end = valueEnd(text, i);
    if (end === undefined) return { entries, cutAt: { index: i, why: "it ends inside an entry" } };
    entries.push({ text: text.slice(i, end), index: i });
    i = end;
  }
}

/** The end of the JSON object or array starting at `start`, or undefined if the text ends first. */
function valueEnd(text: string, start: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return i + 1;
    } else if (depth === 0 && (c === "," || c === "]")) return i;
  }
  return undefined;
}
