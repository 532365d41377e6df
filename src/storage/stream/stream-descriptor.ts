/**
 * The stream descriptor, `stream.json` (docs/format.md §3): the stream's real name, when it was
 * created, and metadata that belongs to the layers above the journal. It is replaced atomically.
 */
import { join } from "node:path";
import { CorruptError, fromSystemError, UnsupportedFormatError } from "../../errors.js";
import { FORMAT_VERSION } from "../../format/constants.js";
import { readSmallFile, writeFileAtomic } from "../fs/file-ops.js";
import type { FileSystem } from "../fs/file-system.js";
import {
  limitsToJson,
  type ResolvedLimits,
  type Retention,
  resolveLimits,
  type StreamLimits,
  validateRetention,
} from "../retention/stream-limits.js";
import { type LostRange, parseLostRanges } from "./lost-ranges.js";
import { STREAM_DESCRIPTOR_FILE } from "./stream-files.js";
import { streamIdentity } from "./stream-name.js";
import type { StreamState } from "./stream-state.js";

export interface StreamDescriptor {
  format: number;
  name: string;
  /** Absent in streams written by format 1 (docs/format.md §3): the writer adds one. */
  id?: string;
  createdAtMs: number;
  meta: Record<string, unknown>;
  limits?: StreamLimits;
  retention?: Retention;
  /** Set by `trim({ before })`: records below it are released. */
  trimmedBefore?: number;
  /** Seqs known not to be held: cut out by repair, or absent from an imported source. */
  lost?: LostRange[];
}

const DESCRIPTOR_BYTES_MAX = 1024 * 1024;

export async function readStreamDescriptor(
  fs: FileSystem,
  dir: string,
  dirName: string,
): Promise<StreamDescriptor> {
  const raw = await readSmallFile(fs, join(dir, STREAM_DESCRIPTOR_FILE), DESCRIPTOR_BYTES_MAX);
  let parsed: Partial<StreamDescriptor>;
  try {
    parsed = JSON.parse(raw.toString("utf8")) as Partial<StreamDescriptor>;
  } catch (err) {
    throw new CorruptError(
      `${dirName}/${STREAM_DESCRIPTOR_FILE} is not valid JSON`,
      { path: dirName },
      err,
    );
  }
  if (
    typeof parsed.format !== "number" ||
    typeof parsed.name !== "string" ||
    typeof parsed.createdAtMs !== "number"
  ) {
    throw new CorruptError(
      `${dirName}/${STREAM_DESCRIPTOR_FILE} lacks format, name or createdAtMs`,
      { path: dirName },
    );
  }
  if (parsed.format > FORMAT_VERSION) {
    throw new UnsupportedFormatError(
      `stream ${JSON.stringify(parsed.name)} uses format ${parsed.format}; this tidemark reads up to ${FORMAT_VERSION}`,
      { stream: parsed.name },
    );
  }
  if (streamIdentity(parsed.name).dirName !== dirName) {
    throw new CorruptError(
      `${dirName}/${STREAM_DESCRIPTOR_FILE} names a stream that does not live there`,
      {
        path: dirName,
        stream: parsed.name,
      },
    );
  }
  const meta = typeof parsed.meta === "object" && parsed.meta !== null ? parsed.meta : {};
  const descriptor: StreamDescriptor = {
    format: parsed.format,
    name: parsed.name,
    createdAtMs: parsed.createdAtMs,
    meta,
  };
  if (parsed.id !== undefined) {
    if (typeof parsed.id !== "string" || !/^[0-9a-f]{16}$/.test(parsed.id)) {
      throw new CorruptError(`${dirName}/${STREAM_DESCRIPTOR_FILE} holds an invalid id`, {
        path: dirName,
      });
    }
    descriptor.id = parsed.id;
  }
  try {
    if (parsed.limits !== undefined) descriptor.limits = limitsToJson(resolveLimits(parsed.limits));
    if (parsed.retention !== undefined) descriptor.retention = validateRetention(parsed.retention);
  } catch (err) {
    throw new CorruptError(
      `${dirName}/${STREAM_DESCRIPTOR_FILE} holds invalid limits`,
      { path: dirName },
      err,
    );
  }
  if (parsed.trimmedBefore !== undefined) {
    if (!Number.isSafeInteger(parsed.trimmedBefore) || parsed.trimmedBefore < 1) {
      throw new CorruptError(`${dirName}/${STREAM_DESCRIPTOR_FILE} holds an invalid trim point`, {
        path: dirName,
      });
    }
    descriptor.trimmedBefore = parsed.trimmedBefore;
  }
  if (parsed.lost !== undefined) {
    descriptor.lost = parseLostRanges(parsed.lost, `${dirName}/${STREAM_DESCRIPTOR_FILE}`);
  }
  return descriptor;
}

export async function writeStreamDescriptor(
  fs: FileSystem,
  dir: string,
  descriptor: StreamDescriptor,
  durable: boolean,
): Promise<void> {
  const bytes = Buffer.from(JSON.stringify(descriptor), "utf8");
  await writeFileAtomic(fs, dir, STREAM_DESCRIPTOR_FILE, bytes, durable);
}

/** The parts of a stream's state that stream.json stores and that can change. */
export interface DescriptorChange {
  limits?: ResolvedLimits;
  retention?: Retention;
  trimmedBefore?: number;
  meta?: Record<string, unknown>;
  lost?: readonly LostRange[];
}

/**
 * Applies `change` to the stream's state and stores its descriptor. If the store fails the state
 * is put back as it was, so memory never runs ahead of what a reopen would find.
 */
export async function storeDescriptorChange(
  fs: FileSystem,
  state: StreamState,
  change: DescriptorChange,
  durable: boolean,
  action: string,
): Promise<void> {
  const previous: DescriptorChange = {};
  for (const key of Object.keys(change) as Array<keyof DescriptorChange>) {
    (previous as Record<string, unknown>)[key] = state[key];
  }
  Object.assign(state, change);
  try {
    await writeStreamDescriptor(
      fs,
      state.dir,
      {
        format: FORMAT_VERSION,
        name: state.name,
        id: state.id,
        createdAtMs: state.createdAtMs,
        meta: state.meta,
        limits: limitsToJson(state.limits),
        retention: state.retention,
        trimmedBefore: state.trimmedBefore,
        ...(state.lost.length === 0 ? {} : { lost: [...state.lost] }),
      },
      durable,
    );
  } catch (err) {
    Object.assign(state, previous);
    throw fromSystemError(err, action, { stream: state.name });
  }
}
