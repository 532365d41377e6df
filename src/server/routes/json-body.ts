/**
 * The body of a JSON-mode append or create, checked while it arrives: the JSON splitter sees
 * every chunk as the body reader receives it (so a 16 MB body is checked in small steps, never
 * in one long stall), and what it finds is charged to the server's body budget as it is found.
 */
import type { TidemarkError } from "../../errors.js";
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

  /**
   * Past a limit (too many messages, too deep), nothing that follows can make the body
   * acceptable: refuse it without reading the rest. A syntax error is kept for its turn
   * instead, so the answer follows the protocol's order of checks (a closed stream first).
   */
  get refusal(): TidemarkError | undefined {
    const error = this.splitter.error;
    return error !== undefined && error.code !== "INVALID_JSON" ? error : undefined;
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
