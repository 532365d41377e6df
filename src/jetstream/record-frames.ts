/**
 * The body of one JetStream message: one or more records, each `[u32 payload length][u16
 * attributes length][attributes][payload]` (little-endian). Several appends that arrive while a
 * publish is in flight share the next message (group commit), each keeping its own records and
 * its coordination change on its last record. (A close is a message with no records: its change
 * travels in a header, jetstream-stream.ts.) Decoding never trusts the lengths: a frame that runs past the message is
 * CORRUPT, not a crash.
 */
import { TidemarkError } from "../errors.js";

export const FRAME_HEADER_BYTES = 6;
const ATTRIBUTES_BYTES_MAX = 0xffff;

export interface FrameRecord {
  payload: Uint8Array;
  attributes: Uint8Array | undefined;
}

export function frameBytes(
  payload: Uint8Array | string,
  attributes: Uint8Array | undefined,
): number {
  return FRAME_HEADER_BYTES + Buffer.byteLength(payload) + (attributes?.byteLength ?? 0);
}

/** Writes frames into one buffer of exactly `bytes` bytes. */
export function encodeFrames(
  records: ReadonlyArray<{ payload: Uint8Array | string; attributes: Uint8Array | undefined }>,
  bytes: number,
): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (const { payload, attributes } of records) {
    const attributeBytes = attributes?.byteLength ?? 0;
    if (attributeBytes > ATTRIBUTES_BYTES_MAX) {
      throw new TidemarkError("INVALID_ARGUMENT", "record attributes are limited to 65,535 bytes");
    }
    const payloadBytes = Buffer.byteLength(payload);
    out.writeUInt32LE(payloadBytes, at);
    out.writeUInt16LE(attributeBytes, at + 4);
    at += FRAME_HEADER_BYTES;
    if (attributes !== undefined) {
      out.set(attributes, at);
      at += attributeBytes;
    }
    if (typeof payload === "string") at += out.write(payload, at, "utf8");
    else {
      out.set(payload, at);
      at += payload.byteLength;
    }
  }
  if (at !== bytes) throw new TidemarkError("INTERNAL", "frame sizes disagree");
  return out;
}

export function decodeFrames(body: Uint8Array, where: string): FrameRecord[] {
  const view = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const records: FrameRecord[] = [];
  let at = 0;
  while (at < view.byteLength) {
    if (at + FRAME_HEADER_BYTES > view.byteLength) throw corrupt(where);
    const payloadBytes = view.readUInt32LE(at);
    const attributeBytes = view.readUInt16LE(at + 4);
    at += FRAME_HEADER_BYTES;
    if (at + attributeBytes + payloadBytes > view.byteLength) throw corrupt(where);
    const attributes = attributeBytes === 0 ? undefined : view.subarray(at, at + attributeBytes);
    at += attributeBytes;
    records.push({ payload: view.subarray(at, at + payloadBytes), attributes });
    at += payloadBytes;
  }
  return records;
}

function corrupt(where: string): TidemarkError {
  return new TidemarkError("CORRUPT", `a JetStream message of ${where} is not tidemark's framing`);
}
