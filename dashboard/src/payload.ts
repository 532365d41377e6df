/**
 * Turning a message's payload into what the page shows: JSON pretty-printed (as tokens, so they
 * can be coloured), text as it is, bytes as a hex dump. A JSON stream's record can hold several
 * values joined by commas (how the server stored a POSTed array): they show as one array.
 */
import type { MessageView } from "../../src/server/admin/wire-types.js";

export type TokenKind = "key" | "string" | "number" | "literal" | "punct" | "plain";

export interface Token {
  text: string;
  kind: TokenKind;
}

export interface Rendered {
  kind: "json" | "text" | "hex";
  tokens: Token[];
  /** The same on one line (the list's compact view). */
  line: Token[];
  /** The plain text the tokens spell (what "find" searches). */
  text: string;
}

const HEX_BYTES_SHOWN = 4096;

export function renderPayload(message: MessageView): Rendered {
  if (message.encoding === "json" && !message.truncated) {
    const value = parseJsonRecord(message.data);
    if (value !== undefined) {
      const tokens = jsonTokens(JSON.stringify(value.value, null, 2));
      const line = jsonTokens(JSON.stringify(value.value));
      return { kind: "json", tokens, line, text: tokens.map((t) => t.text).join("") };
    }
  }
  if (message.encoding === "base64") {
    const bytes = fromBase64(message.data);
    const text = hexDump(bytes);
    const line = [...bytes.subarray(0, 48)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    return {
      kind: "hex",
      tokens: [{ text, kind: "plain" }],
      line: [{ text: bytes.length > 48 ? `${line} …` : line, kind: "plain" }],
      text,
    };
  }
  const line = message.data
    .replace(/[\r\n]+$/, "")
    .replace(/\s*[\r\n]+\s*/g, " ⏎ ")
    .trim();
  return {
    kind: "text",
    tokens: [{ text: message.data, kind: "plain" }],
    line: [{ text: line, kind: "plain" }],
    text: message.data,
  };
}

function parseJsonRecord(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) };
  } catch {
    try {
      return { value: JSON.parse(`[${text}]`) };
    } catch {
      return undefined;
    }
  }
}

const JSON_TOKEN =
  /("(?:[^"\\]|\\.)*")(\s*:)?|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|\b(true|false|null)\b|([{}[\],:])|(\s+)/g;

/** Tokens of JSON text that JSON.stringify wrote (so it is well formed). */
export function jsonTokens(text: string): Token[] {
  const tokens: Token[] = [];
  let last = 0;
  for (const match of text.matchAll(JSON_TOKEN)) {
    const index = match.index ?? 0;
    if (index > last) tokens.push({ text: text.slice(last, index), kind: "plain" });
    if (match[1] !== undefined) {
      tokens.push({ text: match[1], kind: match[2] === undefined ? "string" : "key" });
      if (match[2] !== undefined) tokens.push({ text: match[2], kind: "punct" });
    } else if (match[3] !== undefined) tokens.push({ text: match[3], kind: "number" });
    else if (match[4] !== undefined) tokens.push({ text: match[4], kind: "literal" });
    else if (match[5] !== undefined) tokens.push({ text: match[5], kind: "punct" });
    else tokens.push({ text: match[0], kind: "plain" });
    last = index + match[0].length;
  }
  if (last < text.length) tokens.push({ text: text.slice(last), kind: "plain" });
  return tokens;
}

export function fromBase64(data: string): Uint8Array {
  const binary = atob(data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** 16 bytes a line: offset, hex, and the printable ASCII beside it. */
export function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  const shown = Math.min(bytes.length, HEX_BYTES_SHOWN);
  for (let offset = 0; offset < shown; offset += 16) {
    const row = bytes.subarray(offset, Math.min(offset + 16, shown));
    const hex = [...row].map((b) => b.toString(16).padStart(2, "0"));
    const left = hex.slice(0, 8).join(" ");
    const right = hex.slice(8).join(" ");
    const ascii = [...row]
      .map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : "."))
      .join("");
    lines.push(
      `${offset.toString(16).padStart(8, "0")}  ${left.padEnd(23)}  ${right.padEnd(23)}  ${ascii}`,
    );
  }
  if (bytes.length > shown) lines.push(`… ${bytes.length - shown} more bytes`);
  return lines.join("\n");
}
