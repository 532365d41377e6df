/**
 * Creating a stream directory and opening one (docs/format.md §3, §9). Creation builds the whole
 * stream in `.tmp-<hex>` and renames it into place, so a crash leaves no stream or a whole one.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fromSystemError } from "../../errors.js";
import { FORMAT_VERSION } from "../../format/constants.js";
import { removeTree } from "../fs/file-ops.js";
import type { FileHandle, FileSystem } from "../fs/file-system.js";
import type { ResolvedOptions } from "../journal/journal-options.js";
import { type DurableEnd, recoverStream } from "../recovery/recovery.js";
import type { RecoveryReporter } from "../recovery/recovery-event.js";
import {
  limitsToJson,
  type Retention,
  resolveLimits,
  type StreamLimits,
} from "../retention/stream-limits.js";
import { createSegmentFile } from "./segment-file.js";
import { SegmentList } from "./segment-list.js";
import {
  readStreamDescriptor,
  type StreamDescriptor,
  writeStreamDescriptor,
} from "./stream-descriptor.js";
import { streamIdentity } from "./stream-name.js";
import { StreamState } from "./stream-state.js";

export const TMP_STREAM_PREFIX = ".tmp-";
export const DELETED_STREAM_PREFIX = ".del-";

export interface OpenerContext {
  fs: FileSystem;
  streamsDir: string;
  options: ResolvedOptions;
  clock: () => number;
  report: RecoveryReporter;
}

export interface OpenedStream {
  state: StreamState;
  scannedBytes: number;
  /** The active segment open for writing (writer only). */
  activeFile: FileHandle | undefined;
  /** The commit log held records of this stream: its segment is not known synced. */
  logged: boolean;
}

/** What a new stream starts with. */
export interface StreamInit {
  limits?: StreamLimits;
  retention?: Retention;
  meta?: Record<string, unknown>;
}

/** Creates an empty stream on disk. Fails with EEXIST if its directory already exists. */
export async function createStreamDir(
  ctx: OpenerContext,
  name: string,
  init: StreamInit,
): Promise<void> {
  const { fs, streamsDir, options } = ctx;
  const durable = options.durability !== "none";
  const identity = streamIdentity(name);
  const tmp = join(streamsDir, TMP_STREAM_PREFIX + randomBytes(8).toString("hex"));
  try {
    await fs.mkdir(tmp);
    const createdAtMs = ctx.clock();
    const descriptor: StreamDescriptor = {
      format: FORMAT_VERSION,
      name,
      id: newStreamId(),
      createdAtMs,
      meta: init.meta ?? {},
    };
    if (init.limits !== undefined) descriptor.limits = limitsToJson(resolveLimits(init.limits));
    if (init.retention !== undefined) descriptor.retention = init.retention;
    await writeStreamDescriptor(fs, tmp, descriptor, durable);
    const segment = await createSegmentFile(fs, tmp, 1, createdAtMs, identity.tag, durable);
    await segment.close();
    await fs.rename(tmp, join(streamsDir, identity.dirName));
    if (durable) await fs.syncDir(streamsDir);
  } catch (err) {
    await removeTree(fs, tmp).catch(() => undefined);
    throw fromSystemError(err, `create stream ${JSON.stringify(name)}`, { stream: name });
  }
}

/** 64 random bits: a stream's id (docs/format.md §3). */
export function newStreamId(): string {
  return randomBytes(8).toString("hex");
}

/**
 * Opens (recovering as needed) the stream stored in `streams/<dirName>`. `descriptor` is its
 * stream.json when already read; `durableEnd` the end of its last commit log record, if any.
 */
export async function openStreamDir(
  ctx: OpenerContext,
  dirName: string,
  known?: { descriptor: StreamDescriptor; durableEnd: DurableEnd | undefined },
): Promise<OpenedStream> {
  const { fs, options } = ctx;
  const dir = join(ctx.streamsDir, dirName);
  const descriptor = known?.descriptor ?? (await readStreamDescriptor(fs, dir, dirName));
  const { tag } = streamIdentity(descriptor.name);
  const durable = options.durability !== "none";
  if (descriptor.id === undefined && !options.readOnly) {
    // Written by format 1: give it an id before anything can reach the commit log (§10).
    descriptor.id = newStreamId();
    await writeStreamDescriptor(fs, dir, descriptor, durable);
  }
  const recovered = await recoverStream({
    durableEnd: known?.durableEnd,
    logRead: known !== undefined,
    fs,
    dir,
    name: descriptor.name,
    tag,
    readOnly: options.readOnly,
    report: ctx.report,
    createSegment: async (baseSeq) => {
      const file = await createSegmentFile(fs, dir, baseSeq, ctx.clock(), tag, durable);
      await file.close();
    },
  });
  const state = new StreamState({
    name: descriptor.name,
    id: descriptor.id ?? "0000000000000000",
    dir,
    tag,
    createdAtMs: descriptor.createdAtMs,
    segments: new SegmentList(recovered.segments),
    activeIndex: recovered.activeIndex,
    tail: recovered.tail,
    activeCreatedAtMs: recovered.activeCreatedAtMs,
    nowMs: ctx.clock(),
    limits: resolveLimits(descriptor.limits),
    retention: descriptor.retention ?? "limits",
    trimmedBefore: descriptor.trimmedBefore ?? 1,
    meta: descriptor.meta,
    ...(descriptor.lost === undefined ? {} : { lost: descriptor.lost }),
  });
  return {
    state,
    scannedBytes: recovered.scannedBytes,
    activeFile: recovered.activeFile,
    logged: known?.durableEnd !== undefined,
  };
}
