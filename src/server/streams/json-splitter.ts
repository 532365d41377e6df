/**
 * A streaming JSON validator and splitter for JSON-mode streams (PROTOCOL.md §9.1). It checks a
 * body byte by byte as it arrives (RFC 8259 grammar, UTF-8 per RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF) and records where each message starts and ends, without
 * ever building the value: a message is stored as the client's own bytes, never re-serialized,
 * so `1e999`, `123456789012345678901234567890` and `{"a":1,"a":2}` stay exactly as sent.
 *
 * A top-level array is one level of messages (its elements); any other value is one message.
 * Message bounds exclude the whitespace around a value. Memory is 8 bytes per message plus one
 * byte per nesting level; nesting is bounded (`depthMax`, JSON_TOO_DEEP) and so is the number
 * of messages (`messagesMax`, BATCH_TOO_LARGE), and nothing recurses, so no body can exhaust
 * the stack or the heap. The first error is kept and the rest of the body is ignored, so the
 * route can still answer in the protocol's order (a closed stream before a bad body).
 */
import { TidemarkError } from "../../errors.js";

/** Deepest nesting of arrays and objects accepted in a JSON message. */
export const JSON_DEPTH_MAX = 512;
/** Most messages one JSON append may carry (each becomes one journal record). */
export const JSON_MESSAGES_PER_APPEND_MAX = 100_000;

export interface JsonMessages {
  /** True when the body was a top-level array (its elements are the messages). */
  array: boolean;
  count: number;
  /** Message `i` is bytes `[bounds[2i], bounds[2i + 1])` of the body. */
  bounds: Uint32Array;
}

export interface JsonSplitterOptions {
  depthMax?: number;
  messagesMax?: number;
}

// Parser states.
const VALUE = 0; // a value is expected (`]` too, right after `[`)
const AFTER = 1; // a value ended: `,`, a closing bracket, or (at the top) the end
const KEY = 2; // an object key is expected (`}` too, right after `{`)
const COLON = 3;
const STRING = 4;
const ESCAPE = 5;
const UNICODE = 6; // hex digits of a \u escape
const UTF8 = 7; // continuation bytes of a multi-byte character
const NUM_MINUS = 8;
const NUM_ZERO = 9;
const NUM_INT = 10;
const NUM_DOT = 11;
const NUM_FRAC = 12;
const NUM_E = 13;
const NUM_E_SIGN = 14;
const NUM_EXP = 15;
const LITERAL = 16;
const END = 17; // the top-level value ended: only whitespace may follow
const FAILED = 18;

const ARRAY = 1;
const OBJECT = 2;

const LITERALS: Record<number, Uint8Array> = {
  116: Buffer.from("true"),
  102: Buffer.from("false"),
  110: Buffer.from("null"),
};

/** Bytes that may follow `\` in a string: " \ / b f n r t (u is handled apart). */
const SIMPLE_ESCAPE = new Uint8Array(256);
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = 1;
const HEX = new Uint8Array(256);
for (const c of "0123456789abcdefABCDEF") HEX[c.charCodeAt(0)] = 1;
/** String bytes that need no attention: printable ASCII except `"` and `\`. */
const PLAIN = new Uint8Array(256);
for (let b = 0x20; b < 0x80; b++) PLAIN[b] = b === 0x22 || b === 0x5c ? 0 : 1;

export class JsonSplitter {
  private state = VALUE;
  /** Absolute offset in the body of the next byte. */
  private offset = 0;
  private depth = 0;
  private readonly stack: Uint8Array;
  /** Right after `[` or `{`: the container may close at once. */
  private first = false;
  private isKey = false;
  private array = false;
  private pending = 0; // hex digits or UTF-8 continuation bytes still expected
  private utf8Low = 0x80;
  private utf8High = 0xbf;
  private literal: Uint8Array = LITERALS[0x74]!;
  private literalAt = 0;
  private bounds = new Uint32Array(16);
  private messages = 0;
  private failure: TidemarkError | undefined;
  private readonly depthMax: number;
  private readonly messagesMax: number;

  constructor(options: JsonSplitterOptions = {}) {
    this.depthMax = options.depthMax ?? JSON_DEPTH_MAX;
    this.messagesMax = options.messagesMax ?? JSON_MESSAGES_PER_APPEND_MAX;
    this.stack = new Uint8Array(this.depthMax + 1);
  }

  /** Messages found so far. */
  get count(): number {
    return this.messages;
  }

  /** The first problem found, if any (the body is then refused; later bytes are ignored). */
  get error(): TidemarkError | undefined {
    return this.failure;
  }

  write(chunk: Uint8Array): void {
    if (this.state === FAILED) {
      this.offset += chunk.byteLength;
      return;
    }
    const base = this.offset;
    const n = chunk.byteLength;
    let i = 0;
    let state = this.state;
    while (i < n) {
      const b = chunk[i]!;
      switch (state) {
        case VALUE:
          if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) {
            i++;
            continue;
          }
          if (b === 0x5d && this.first && this.stack[this.depth] === ARRAY) {
            state = this.close(base + i);
            i++;
            continue;
          }
          state = this.startValue(b, base + i);
          i++;
          continue;
        case AFTER:
          if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) {
            i++;
            continue;
          }
          if (b === 0x2c) {
            this.first = false;
            state = this.stack[this.depth] === ARRAY ? VALUE : KEY;
          } else if (
            (b === 0x5d && this.stack[this.depth] === ARRAY) ||
            (b === 0x7d && this.stack[this.depth] === OBJECT)
          ) {
            state = this.close(base + i);
          } else {
            state = this.fail(base + i, "expected ',' or a closing bracket");
          }
          i++;
          continue;
        case KEY:
          if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) {
            i++;
            continue;
          }
          if (b === 0x22) {
            this.isKey = true;
            state = STRING;
          } else if (b === 0x7d && this.first) {
            state = this.close(base + i);
          } else {
            state = this.fail(base + i, "expected an object key (a string)");
          }
          i++;
          continue;
        case COLON:
          if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) {
            i++;
            continue;
          }
          if (b === 0x3a) {
            this.first = false;
            state = VALUE;
          } else {
            state = this.fail(base + i, "expected ':' after an object key");
          }
          i++;
          continue;
        case STRING:
          while (i < n && PLAIN[chunk[i]!] === 1) i++;
          if (i === n) continue;
          {
            const c = chunk[i]!;
            if (c === 0x22) {
              if (this.isKey) {
                this.isKey = false;
                state = COLON;
              } else {
                state = this.endValue(base + i + 1);
              }
            } else if (c === 0x5c) {
              state = ESCAPE;
            } else if (c < 0x20) {
              state = this.fail(base + i, "a control character must be escaped in a string");
            } else {
              state = this.utf8Start(c, base + i);
            }
          }
          i++;
          continue;
        case ESCAPE:
          if (b === 0x75) {
            this.pending = 4;
            state = UNICODE;
          } else if (SIMPLE_ESCAPE[b] === 1) {
            state = STRING;
          } else {
            state = this.fail(base + i, "an invalid escape in a string");
          }
          i++;
          continue;
        case UNICODE:
          if (HEX[b] !== 1) {
            state = this.fail(base + i, "\\u must be followed by four hex digits");
          } else if (--this.pending === 0) {
            state = STRING;
          }
          i++;
          continue;
        case UTF8:
          if (b < this.utf8Low || b > this.utf8High) {
            state = this.fail(base + i, "the body is not valid UTF-8");
          } else {
            this.utf8Low = 0x80;
            this.utf8High = 0xbf;
            if (--this.pending === 0) state = STRING;
          }
          i++;
          continue;
        case NUM_MINUS:
          if (b === 0x30) state = NUM_ZERO;
          else if (b > 0x30 && b <= 0x39) state = NUM_INT;
          else state = this.fail(base + i, "a digit must follow '-'");
          i++;
          continue;
        case NUM_INT:
          while (i < n && chunk[i]! >= 0x30 && chunk[i]! <= 0x39) i++;
          if (i === n) continue;
          state = this.afterDigits(chunk[i]!, base + i);
          if (state === AFTER || state === END) continue; // the byte is looked at again
          i++;
          continue;
        case NUM_ZERO:
          state = this.afterDigits(b, base + i);
          if (state === AFTER || state === END) continue;
          if (state === NUM_INT) state = this.fail(base + i, "a number may not have leading zeros");
          i++;
          continue;
        case NUM_DOT:
          if (b >= 0x30 && b <= 0x39) state = NUM_FRAC;
          else state = this.fail(base + i, "a digit must follow '.'");
          i++;
          continue;
        case NUM_FRAC:
          while (i < n && chunk[i]! >= 0x30 && chunk[i]! <= 0x39) i++;
          if (i === n) continue;
          if (chunk[i] === 0x65 || chunk[i] === 0x45) {
            state = NUM_E;
            i++;
            continue;
          }
          state = this.endValue(base + i);
          continue;
        case NUM_E:
          if (b === 0x2b || b === 0x2d) state = NUM_E_SIGN;
          else if (b >= 0x30 && b <= 0x39) state = NUM_EXP;
          else state = this.fail(base + i, "an exponent needs digits");
          i++;
          continue;
        case NUM_E_SIGN:
          if (b >= 0x30 && b <= 0x39) state = NUM_EXP;
          else state = this.fail(base + i, "an exponent needs digits");
          i++;
          continue;
        case NUM_EXP:
          while (i < n && chunk[i]! >= 0x30 && chunk[i]! <= 0x39) i++;
          if (i === n) continue;
          state = this.endValue(base + i);
          continue;
        case LITERAL:
          if (b !== this.literal[this.literalAt]) {
            state = this.fail(base + i, "an unknown literal (true, false or null expected)");
          } else if (++this.literalAt === this.literal.byteLength) {
            state = this.endValue(base + i + 1);
          }
          i++;
          continue;
        case END:
          if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) {
            i++;
            continue;
          }
          state = this.fail(base + i, "unexpected data after the JSON value");
          i++;
          continue;
        default: // FAILED
          i = n;
      }
    }
    this.state = state;
    this.offset = base + n;
  }

  /** The messages of a complete body; throws the first problem (or a truncation). */
  finish(): JsonMessages {
    if (this.failure === undefined) {
      let state = this.state;
      // A number at the very end of the body ends there.
      if (state === NUM_ZERO || state === NUM_INT || state === NUM_FRAC || state === NUM_EXP) {
        state = this.endValue(this.offset);
      }
      if (state !== END && this.failure === undefined) {
        this.fail(
          this.offset,
          this.offset === 0 && state === VALUE ? "the body is empty" : "the body ends mid-value",
        );
      }
      this.state = state;
    }
    if (this.failure !== undefined) throw this.failure;
    return {
      array: this.array,
      count: this.messages,
      bounds: this.bounds.subarray(0, this.messages * 2),
    };
  }

  private startValue(b: number, at: number): number {
    if (this.depth === 0) {
      this.array = b === 0x5b;
      if (!this.array) this.messageStart(at);
    } else if (this.depth === 1 && this.array) {
      this.messageStart(at);
    }
    if (this.failure !== undefined) return FAILED;
    switch (b) {
      case 0x5b:
      case 0x7b:
        if (this.depth === this.depthMax) {
          this.failure = new TidemarkError(
            "JSON_TOO_DEEP",
            `the JSON body nests deeper than ${this.depthMax} levels (at byte ${at})`,
            { offset: at },
          );
          return FAILED;
        }
        this.stack[++this.depth] = b === 0x5b ? ARRAY : OBJECT;
        this.first = true;
        return b === 0x5b ? VALUE : KEY;
      case 0x22:
        this.isKey = false;
        return STRING;
      case 0x2d:
        return NUM_MINUS;
      case 0x30:
        return NUM_ZERO;
      case 0x74:
      case 0x66:
      case 0x6e:
        this.literal = LITERALS[b]!;
        this.literalAt = 1;
        return LITERAL;
      default:
        if (b > 0x30 && b <= 0x39) return NUM_INT;
        return this.fail(at, "expected a JSON value");
    }
  }

  /** A closing bracket at `at`: the container (a value) ends after it. */
  private close(at: number): number {
    this.depth--;
    this.first = false;
    return this.endValue(at + 1);
  }

  private endValue(end: number): number {
    if (this.depth === 0) {
      if (!this.array) this.bounds[1] = end;
      return END;
    }
    if (this.depth === 1 && this.array) this.bounds[this.messages * 2 - 1] = end;
    return AFTER;
  }

  private messageStart(at: number): void {
    if (this.messages === this.messagesMax) {
      this.failure = new TidemarkError(
        "BATCH_TOO_LARGE",
        `a JSON append may hold at most ${this.messagesMax} messages; split the array`,
        { offset: at },
      );
      return;
    }
    if (this.messages * 2 === this.bounds.length) {
      const grown = new Uint32Array(this.bounds.length * 2);
      grown.set(this.bounds);
      this.bounds = grown;
    }
    this.bounds[this.messages * 2] = at;
    this.messages++;
  }

  /** The byte after the digits of an integer part: `.`, an exponent, or the number's end. */
  private afterDigits(b: number, at: number): number {
    if (b === 0x2e) return NUM_DOT;
    if (b === 0x65 || b === 0x45) return NUM_E;
    if (b >= 0x30 && b <= 0x39) return NUM_INT;
    return this.endValue(at);
  }

  /** The lead byte of a multi-byte UTF-8 character (RFC 3629 §4). */
  private utf8Start(b: number, at: number): number {
    if (b >= 0xc2 && b <= 0xdf) {
      this.pending = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
      this.pending = 2;
      if (b === 0xe0) this.utf8Low = 0xa0; // no overlong forms
      if (b === 0xed) this.utf8High = 0x9f; // no surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      this.pending = 3;
      if (b === 0xf0) this.utf8Low = 0x90;
      if (b === 0xf4) this.utf8High = 0x8f; // nothing above U+10FFFF
    } else {
      return this.fail(at, "the body is not valid UTF-8");
    }
    return UTF8;
  }

  private fail(at: number, reason: string): number {
    this.failure ??= new TidemarkError(
      "INVALID_JSON",
      `the body is not valid JSON: ${reason} at byte ${at}`,
      { offset: at },
    );
    return FAILED;
  }
}

/** The messages of a whole body at once. */
export function splitJson(body: Uint8Array, options: JsonSplitterOptions = {}): JsonMessages {
  const splitter = new JsonSplitter(options);
  splitter.write(body);
  return splitter.finish();
}

/** Views of `body`'s messages (no copies). */
export function messageViews(body: Buffer, messages: JsonMessages): Buffer[] {
  const views = new Array<Buffer>(messages.count);
  const { bounds } = messages;
  for (let i = 0; i < messages.count; i++)
    views[i] = body.subarray(bounds[2 * i], bounds[2 * i + 1]);
  return views;
}

const OPEN = Buffer.from("[");
const CLOSE = Buffer.from("]");

/**
 * The messages of one stored record of a JSON stream. A record holds one message; journals
 * written before one-record-per-message hold a POST's messages joined by commas in one record.
 * Both read the same inside `[` `]`, so wrapping a record in brackets gives its messages either
 * way: a single value wrapped is one message, a comma-joined list is its elements.
 */
export function recordMessages(payload: Uint8Array): Buffer[] {
  const splitter = new JsonSplitter({ messagesMax: Number.MAX_SAFE_INTEGER });
  splitter.write(OPEN);
  splitter.write(payload);
  splitter.write(CLOSE);
  const messages = splitter.finish();
  const views = new Array<Buffer>(messages.count);
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  for (let i = 0; i < messages.count; i++) {
    views[i] = bytes.subarray(messages.bounds[2 * i]! - 1, messages.bounds[2 * i + 1]! - 1);
  }
  return views;
}
