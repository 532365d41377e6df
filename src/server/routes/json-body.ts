/**
 * The body of a JSON-mode append or create, checked while it arrives: the JSON splitter sees
 * every chunk as the body reader receives it (so a 16 MB body is checked in small steps, never
 * in one long stall), and what it finds is charged to the server's body budget as it is found.
 */
import type { BodySink } from "../http/body-reader.js";
import { JsonSplitter, messageViews, splitJson } from "../streams/json-splitter.js";

/**
 * What one message costs in memory while its append is in flight, beyond its bytes: a view of
 * the body (about 100 bytes in V8), its size and seq in the journal's arrays, its bounds here,
 * and its record header once encoded (28 bytes). Measured, then rounded up.
 */
export const JSON_MESSAGE_MEMORY_BYTES = 256;

export class JsonBody implements BodySink {
  private readonly splitter = new JsonSplitter();

  write(chunk: Buffer): void {
    this.splitter.write(chunk);
  }

  get extraBytes(): number {
    return this.splitter.count * JSON_MESSAGE_MEMORY_BYTES;
  }

  /** The body's messages, each a view of its own bytes; throws what the splitter found. */
  messages(body: Buffer): Buffer[] {
    return messageViews(body, this.splitter.finish());
  }
}

/** The messages of a body that was read without a JsonBody (its stream's type changed meanwhile). */
export function jsonMessages(body: Buffer, checked: JsonBody | undefined): Buffer[] {
  return checked === undefined ? messageViews(body, splitJson(body)) : checked.messages(body);
}
