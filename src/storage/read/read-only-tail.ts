/**
 * Reading a journal that another process writes (`{ readOnly: true }`). The reader's view of a
 * stream advances by scanning what the writer has appended since it last looked, up to the last
 * `COMMIT` record (docs/format.md §4.3): a batch the writer is still writing is not visible yet,
 * and neither is a torn tail the writer's next recovery would cut. Changes are noticed through
 * file-system events, with a poll timer as the fallback for events that are missed.
 */
import { type FSWatcher, watch as watchDir } from "node:fs";
import { join } from "node:path";
import { isErrnoCode } from "../../errors.js";
import {
  RECORD_BODY_BYTES_LIMIT,
  RECORD_FLAG_COMMIT,
  SEGMENT_HEADER_BYTES,
} from "../../format/constants.js";
import { DECODE_INCOMPLETE, DECODE_OK, RecordView } from "../../format/record.js";
import { decodeSegmentHeader } from "../../format/segment-header.js";
import { parseSegmentFileName, segmentFileName } from "../../format/segment-name.js";
import { readFully } from "../fs/file-ops.js";
import type { FileHandle, FileSystem } from "../fs/file-system.js";
import { SparseIndex } from "../index/sparse-index.js";
import type { StreamState } from "../stream/stream-state.js";
import { SegmentScanner } from "./segment-scanner.js";

/** A watcher outlives its last subscriber by this long, so a busy follower does not churn it. */
const WATCH_LINGER_MS = 1000;

interface Watch {
  wakes: Set<() => void>;
  watcher: FSWatcher | undefined;
  timer: NodeJS.Timeout;
  linger: NodeJS.Timeout | undefined;
}

export class ReadOnlyTail {
  private readonly refreshing = new WeakMap<StreamState, Promise<void>>();
  private readonly watches = new Map<StreamState, Watch>();

  constructor(
    private readonly fs: FileSystem,
    private readonly pollIntervalMs: number,
    private readonly useFileEvents: boolean,
  ) {}

  /** Brings `state` up to what the writer has committed; concurrent callers share one scan. */
  refresh(state: StreamState): Promise<void> {
    let running = this.refreshing.get(state);
    if (running === undefined) {
      running = this.scan(state).finally(() => this.refreshing.delete(state));
      this.refreshing.set(state, running);
    }
    return running;
  }

  watch(state: StreamState, wake: () => void): () => void {
    let entry = this.watches.get(state);
    if (entry === undefined) {
      const wakeAll = () => {
        const wakes = [...(this.watches.get(state)?.wakes ?? [])];
        for (const fn of wakes) fn();
      };
      entry = {
        wakes: new Set(),
        watcher: this.useFileEvents ? tryWatch(state.dir, wakeAll) : undefined,
        timer: setInterval(wakeAll, this.pollIntervalMs),
        linger: undefined,
      };
      this.watches.set(state, entry);
    }
    if (entry.linger !== undefined) {
      clearTimeout(entry.linger);
      entry.linger = undefined;
    }
    entry.wakes.add(wake);
    entry.timer.ref(); // a waiting follower keeps the process alive, as a socket would
    const current = entry;
    return () => {
      current.wakes.delete(wake);
      if (current.wakes.size > 0 || current.linger !== undefined) return;
      current.timer.unref();
      current.linger = setTimeout(() => {
        if (current.wakes.size === 0) this.unwatch(state, current);
      }, WATCH_LINGER_MS);
      current.linger.unref();
    };
  }

  close(): void {
    for (const [state, entry] of this.watches) this.unwatch(state, entry);
  }

  private unwatch(state: StreamState, entry: Watch): void {
    clearInterval(entry.timer);
    if (entry.linger !== undefined) clearTimeout(entry.linger);
    entry.watcher?.close();
    if (this.watches.get(state) === entry) this.watches.delete(state);
  }

  private async scan(state: StreamState): Promise<void> {
    const before = state.lastSeq;
    let bases: number[];
    try {
      bases = (await this.fs.readdir(state.dir))
        .map(parseSegmentFileName)
        .filter((base): base is number => base !== undefined)
        .sort((a, b) => a - b);
    } catch (err) {
      if (isErrnoCode(err, "ENOENT")) {
        state.end(); // the writer deleted the stream
        return;
      }
      throw err;
    }
    while (state.segments.count > 1 && !bases.includes(state.segments.first.baseSeq)) {
      state.segments.shift(); // removed by the writer's retention
    }
    for (;;) {
      await this.scanActive(state);
      const next = bases.find((base) => base > state.segments.active.baseSeq);
      if (
        next === undefined ||
        next !== state.lastSeq + 1 ||
        !(await this.headerReady(state, next))
      )
        break;
      state.segments.active.bytes = (
        await this.fs.stat(join(state.dir, segmentFileName(state.segments.active.baseSeq)))
      ).size;
      state.segments.push({ baseSeq: next, bytes: SEGMENT_HEADER_BYTES });
      state.activeIndex = new SparseIndex();
    }
    if (state.lastSeq !== before) state.notify();
  }

  private async headerReady(state: StreamState, baseSeq: number): Promise<boolean> {
    try {
      const file = await this.fs.open(join(state.dir, segmentFileName(baseSeq)), "read");
      try {
        const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
        await readFully(file, buf, 0, SEGMENT_HEADER_BYTES, 0);
        return typeof decodeSegmentHeader(buf) !== "string";
      } finally {
        await file.close();
      }
    } catch (err) {
      if (isErrnoCode(err, "ENOENT")) return false;
      throw err;
    }
  }

  /** Scans the active segment from its known end up to the last complete append. */
  private async scanActive(state: StreamState): Promise<void> {
    const active = state.segments.active;
    let file: FileHandle;
    try {
      file = await this.fs.open(join(state.dir, segmentFileName(active.baseSeq)), "read");
    } catch (err) {
      if (isErrnoCode(err, "ENOENT")) return;
      throw err;
    }
    try {
      const size = await file.size();
      if (size <= active.bytes) return;
      const scanner = new SegmentScanner(
        file,
        active.bytes,
        size,
        1024 * 1024,
        RECORD_BODY_BYTES_LIMIT,
      );
      const view = new RecordView();
      let expected = state.lastSeq + 1;
      const seen: Array<[number, number, number]> = [];
      for (;;) {
        const at = scanner.position;
        const status = scanner.decode(expected, view);
        if (status === DECODE_OK) {
          seen.push([view.seq, view.timestampMs, at]);
          if ((view.flags & RECORD_FLAG_COMMIT) !== 0) {
            for (const [seq, timestampMs, offset] of seen)
              state.activeIndex.offer(seq, timestampMs, offset);
            seen.length = 0;
            active.bytes = at + (view.end - view.start);
            state.tail = {
              lastSeq: view.seq,
              lastTimestampMs: view.timestampMs,
              lastRecordOffset: at,
              lastRecordCrc: scanner.buffer.readUInt32LE(view.start),
            };
          }
          expected++;
          scanner.advance(view);
        } else if (status === DECODE_INCOMPLETE && !scanner.exhausted) {
          await scanner.fill(view.bytesNeeded);
        } else {
          return; // not written yet (or a tail the writer will cut): look again later
        }
      }
    } finally {
      await file.close();
    }
  }
}

function tryWatch(dir: string, onChange: () => void): FSWatcher | undefined {
  try {
    const watcher = watchDir(dir, { persistent: false }, onChange);
    watcher.on("error", () => watcher.close()); // the poll timer carries on
    return watcher;
  } catch {
    return undefined;
  }
}
