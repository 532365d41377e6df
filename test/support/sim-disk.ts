/**
 * A simulated disk for power-loss tests. It implements tidemark's `FileSystem` interface in
 * memory and remembers what a real disk would have made durable:
 *
 * - file data written since the file's last completed `datasync` is volatile: at a crash each
 *   such write is kept whole, lost, or torn (an arbitrary subset of its 512-byte sectors kept),
 *   independently, and a file may keep a size extended by lost writes (reads as zeros);
 * - directory operations (create, rename, unlink, mkdir, rmdir) are volatile until the directory
 *   they change is synced: POSIX's weakest promise, harsher than ext4's single ordered journal.
 *   A crash keeps, independently for each directory, an arbitrary prefix of its unsynced
 *   operations. A rename stays atomic; it belongs to the directory it moves the entry into.
 *
 * `crashAfterOps(n)` makes the n-th operation from now the last: after it every call fails, and
 * `afterCrash(seed)` builds the disk a reboot would find. Each disk is one boot of its machine:
 * `bootId` is what a journal on it passes as its `bootId`, so the writer lock (docs/format.md §8)
 * of a process that ran before the power loss counts as dead after it, as it would on a machine
 * that rebooted.
 */
import type {
  FileHandle,
  FileStat,
  FileSystem,
  OpenMode,
} from "../../src/storage/fs/file-system.js";

const SECTOR_BYTES = 512;

type DataOp = { kind: "write"; offset: number; bytes: Buffer } | { kind: "truncate"; size: number };

interface FileNode {
  kind: "file";
  id: number;
  data: Buffer;
  size: number;
  /** The durable content is `durable[0, durableSize)` (the buffer grows by doubling). */
  durable: Buffer;
  durableSize: number;
  pending: DataOp[];
}

interface DirNode {
  kind: "dir";
  id: number;
  entries: Map<string, number>;
}

type Node = FileNode | DirNode;

type MetaOp =
  | { kind: "link"; dir: number; name: string; node: number }
  | { kind: "unlink"; dir: number; name: string }
  | { kind: "rename"; fromDir: number; fromName: string; dir: number; name: string; node: number };

/** Small deterministic PRNG (mulberry32) so a failing seed can be replayed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function errno(code: string, message: string): NodeJS.ErrnoException {
  const err = new Error(`${code}: ${message}`) as NodeJS.ErrnoException;
  err.code = code;
  return err;
}

let boots = 0;

export class SimDisk {
  /** This boot of the simulated machine (a new one after every `afterCrash`). */
  readonly bootId = `sim-boot-${++boots}`;
  private nodes = new Map<number, Node>();
  private nextId = 1;
  /** Directory entries as of the last committed metadata op. */
  private durableEntries = new Map<number, Map<string, number>>();
  private metaLog: MetaOp[] = [];
  private opsLeft = Number.POSITIVE_INFINITY;
  crashed = false;
  /** Bytes the disk holds before writes fail with ENOSPC. */
  capacityBytes = Number.POSITIVE_INFINITY;
  ops = 0;

  constructor(private readonly random: () => number = Math.random) {
    this.nodes.set(0, { kind: "dir", id: 0, entries: new Map() });
    this.durableEntries.set(0, new Map());
  }

  crashAfterOps(count: number): void {
    this.opsLeft = count;
  }

  crashNow(): void {
    this.crashed = true;
  }

  /** The disk as a reboot after the crash would find it. */
  afterCrash(seed: number): SimDisk {
    const random = rng(seed);
    const next = new SimDisk(random);
    next.nextId = this.nextId;
    const entries = new Map<number, Map<string, number>>();
    for (const [dir, map] of this.durableEntries) entries.set(dir, new Map(map));
    // Per directory, a random prefix of its unsynced operations survives.
    const cut = new Map<number, number>();
    const counts = new Map<number, number>();
    for (const op of this.metaLog) counts.set(op.dir, (counts.get(op.dir) ?? 0) + 1);
    for (const [dir, count] of counts) cut.set(dir, Math.floor(random() * (count + 1)));
    const seen = new Map<number, number>();
    for (const op of this.metaLog) {
      const index = seen.get(op.dir) ?? 0;
      seen.set(op.dir, index + 1);
      if (index < cut.get(op.dir)!) applyMeta(entries, op);
    }
    for (const node of this.nodes.values()) {
      if (node.kind === "dir") {
        next.nodes.set(node.id, {
          kind: "dir",
          id: node.id,
          entries: new Map(entries.get(node.id) ?? []),
        });
        next.durableEntries.set(node.id, new Map(entries.get(node.id) ?? []));
      } else {
        const content = persist(node, random);
        next.nodes.set(node.id, {
          kind: "file",
          id: node.id,
          data: Buffer.from(content),
          size: content.byteLength,
          durable: Buffer.from(content),
          durableSize: content.byteLength,
          pending: [],
        });
      }
    }
    return next;
  }

  fs(): FileSystem {
    return new SimFileSystem(this);
  }

  /** Counts an operation; throws once the disk has crashed. */
  step(): void {
    if (this.crashed) throw errno("EIO", "simulated power loss");
    this.ops++;
    if (--this.opsLeft < 0) {
      this.crashed = true;
      throw errno("EIO", "simulated power loss");
    }
  }

  usedBytes(): number {
    let total = 0;
    for (const node of this.nodes.values()) if (node.kind === "file") total += node.size;
    return total;
  }

  resolve(path: string): Node | undefined {
    let node: Node | undefined = this.nodes.get(0);
    for (const part of path.split("/").filter((p) => p.length > 0 && p !== ".")) {
      if (node === undefined || node.kind !== "dir") return undefined;
      const id: number | undefined = node.entries.get(part);
      node = id === undefined ? undefined : this.nodes.get(id);
    }
    return node;
  }

  parent(path: string): { dir: DirNode; name: string } {
    const parts = path.split("/").filter((p) => p.length > 0 && p !== ".");
    const name = parts.pop();
    const dir = this.resolve(parts.join("/"));
    if (name === undefined || dir === undefined || dir.kind !== "dir") throw errno("ENOENT", path);
    return { dir, name };
  }

  link(dir: DirNode, name: string, node: number): void {
    dir.entries.set(name, node);
    this.metaLog.push({ kind: "link", dir: dir.id, name, node });
  }

  unlink(dir: DirNode, name: string): void {
    dir.entries.delete(name);
    this.metaLog.push({ kind: "unlink", dir: dir.id, name });
  }

  /** One metadata transaction, as a journaling file system makes it. */
  rename(from: DirNode, fromName: string, to: DirNode, name: string, node: number): void {
    from.entries.delete(fromName);
    to.entries.set(name, node);
    this.metaLog.push({ kind: "rename", fromDir: from.id, fromName, dir: to.id, name, node });
  }

  newNode(kind: "file" | "dir"): Node {
    const id = this.nextId++;
    const node: Node =
      kind === "dir"
        ? { kind, id, entries: new Map() }
        : {
            kind,
            id,
            data: Buffer.alloc(0),
            size: 0,
            durable: Buffer.alloc(0),
            durableSize: 0,
            pending: [],
          };
    this.nodes.set(id, node);
    return node;
  }

  /** Makes the operations on directory `dir` durable (in order); others stay volatile. */
  commitMeta(dir: number): void {
    const rest: MetaOp[] = [];
    for (const op of this.metaLog) {
      if (op.dir === dir) applyMeta(this.durableEntries, op);
      else rest.push(op);
    }
    this.metaLog = rest;
  }
}

function applyMeta(entries: Map<number, Map<string, number>>, op: MetaOp): void {
  const dirMap = (id: number) => {
    let map = entries.get(id);
    if (map === undefined) {
      map = new Map();
      entries.set(id, map);
    }
    return map;
  };
  if (op.kind === "link") dirMap(op.dir).set(op.name, op.node);
  else if (op.kind === "unlink") dirMap(op.dir).delete(op.name);
  else {
    dirMap(op.fromDir).delete(op.fromName);
    dirMap(op.dir).set(op.name, op.node);
  }
}

/** What survives of a file: its durable content plus a random fate for each pending op. */
function persist(node: FileNode, random: () => number): Buffer {
  let content: Buffer = Buffer.from(node.durable.subarray(0, node.durableSize));
  for (const op of node.pending) {
    const fate = random();
    if (op.kind === "truncate") {
      if (fate < 0.5) content = resize(content, op.size);
      continue;
    }
    const end = op.offset + op.bytes.byteLength;
    if (fate < 0.3) {
      // lost, but the size may have been extended anyway (reads as zeros)
      if (random() < 0.3 && end > content.byteLength) content = resize(content, end);
      continue;
    }
    if (end > content.byteLength) content = resize(content, end);
    if (fate < 0.65) {
      op.bytes.copy(content, op.offset);
    } else {
      for (let s = 0; s < op.bytes.byteLength; s += SECTOR_BYTES) {
        if (random() < 0.5)
          op.bytes.copy(content, op.offset + s, s, Math.min(s + SECTOR_BYTES, op.bytes.byteLength));
      }
    }
  }
  return content;
}

function resize(buf: Buffer, size: number): Buffer {
  if (size <= buf.byteLength) return buf.subarray(0, size);
  const bigger = Buffer.alloc(size);
  buf.copy(bigger);
  return bigger;
}

/** Yields to the event loop so concurrent operations interleave as they would on a disk. */
function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

class SimFileHandle implements FileHandle {
  private closed = false;

  constructor(
    private readonly disk: SimDisk,
    private readonly node: FileNode,
    private readonly writable: boolean,
  ) {}

  async read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<number> {
    await tick();
    this.check();
    const n = Math.max(0, Math.min(length, this.node.size - position));
    buffer.set(this.node.data.subarray(position, position + n), offset);
    return n;
  }

  async write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<number> {
    await tick();
    this.check();
    if (!this.writable) throw errno("EBADF", "read-only handle");
    const end = position + length;
    const growth = Math.max(0, end - this.node.size);
    if (this.disk.usedBytes() + growth > this.disk.capacityBytes)
      throw errno("ENOSPC", "simulated full disk");
    if (end > this.node.data.byteLength) {
      const bigger = Buffer.alloc(Math.max(end, this.node.data.byteLength * 2));
      this.node.data.copy(bigger, 0, 0, this.node.size);
      this.node.data = bigger;
    }
    const bytes = Buffer.from(buffer.subarray(offset, offset + length));
    bytes.copy(this.node.data, position);
    if (position > this.node.size) this.node.data.fill(0, this.node.size, position);
    this.node.size = Math.max(this.node.size, end);
    this.node.pending.push({ kind: "write", offset: position, bytes });
    return length;
  }

  async writev(buffers: readonly Uint8Array[], position: number): Promise<number> {
    const whole = Buffer.concat(buffers);
    return this.write(whole, 0, whole.byteLength, position);
  }

  async datasync(): Promise<void> {
    await tick();
    this.check();
    // What was written since the last sync becomes durable, in order: cost by what changed, not by
    // the file's size (a log synced after every group would otherwise be copied whole each time).
    const node = this.node;
    for (const op of node.pending) {
      const end = op.kind === "write" ? op.offset + op.bytes.byteLength : op.size;
      if (end > node.durable.byteLength) {
        const bigger = Buffer.alloc(Math.max(end, node.durable.byteLength * 2));
        node.durable.copy(bigger, 0, 0, node.durableSize);
        node.durable = bigger;
      }
      if (op.kind === "truncate") {
        if (op.size > node.durableSize) node.durable.fill(0, node.durableSize, op.size);
        node.durableSize = op.size;
      } else {
        if (op.offset > node.durableSize) node.durable.fill(0, node.durableSize, op.offset);
        op.bytes.copy(node.durable, op.offset);
        node.durableSize = Math.max(node.durableSize, end);
      }
    }
    node.pending = [];
  }

  async truncate(bytes: number): Promise<void> {
    await tick();
    this.check();
    if (bytes < this.node.size) this.node.data.fill(0, bytes, this.node.size);
    else if (bytes > this.node.data.byteLength) this.node.data = resize(this.node.data, bytes);
    this.node.size = bytes;
    this.node.pending.push({ kind: "truncate", size: bytes });
  }

  async size(): Promise<number> {
    await tick();
    this.check();
    return this.node.size;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private check(): void {
    if (this.closed) throw errno("EBADF", "closed");
    this.disk.step();
  }
}

class SimFileSystem implements FileSystem {
  constructor(private readonly disk: SimDisk) {}

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    await tick();
    this.disk.step();
    let node = this.disk.resolve(path);
    if (node !== undefined && node.kind === "dir") throw errno("EISDIR", path);
    if (mode === "create" && node !== undefined) throw errno("EEXIST", path);
    if (node === undefined) {
      if (mode === "read" || mode === "write") throw errno("ENOENT", path);
      const { dir, name } = this.disk.parent(path);
      node = this.disk.newNode("file");
      this.disk.link(dir, name, node.id);
    } else if (mode === "replace") {
      node.size = 0;
      node.pending.push({ kind: "truncate", size: 0 });
    }
    return new SimFileHandle(this.disk, node as FileNode, mode !== "read");
  }

  async readdir(path: string): Promise<string[]> {
    await tick();
    this.disk.step();
    const node = this.disk.resolve(path);
    if (node === undefined) throw errno("ENOENT", path);
    if (node.kind !== "dir") throw errno("ENOTDIR", path);
    return [...node.entries.keys()];
  }

  async mkdir(path: string): Promise<void> {
    await tick();
    this.disk.step();
    if (this.disk.resolve(path) !== undefined) throw errno("EEXIST", path);
    const { dir, name } = this.disk.parent(path);
    const node = this.disk.newNode("dir");
    this.disk.link(dir, name, node.id);
  }

  async rename(from: string, to: string): Promise<void> {
    await tick();
    this.disk.step();
    const source = this.disk.parent(from);
    const id = source.dir.entries.get(source.name);
    if (id === undefined) throw errno("ENOENT", from);
    const target = this.disk.parent(to);
    const existing = this.disk.resolve(to);
    if (existing?.kind === "dir" && existing.entries.size > 0) throw errno("ENOTEMPTY", to);
    this.disk.rename(source.dir, source.name, target.dir, target.name, id);
  }

  async link(existing: string, newPath: string): Promise<void> {
    await tick();
    this.disk.step();
    const node = this.disk.resolve(existing);
    if (node === undefined) throw errno("ENOENT", existing);
    if (node.kind === "dir") throw errno("EPERM", existing);
    if (this.disk.resolve(newPath) !== undefined) throw errno("EEXIST", newPath);
    const { dir, name } = this.disk.parent(newPath);
    this.disk.link(dir, name, node.id);
  }

  async unlink(path: string): Promise<void> {
    await tick();
    this.disk.step();
    const { dir, name } = this.disk.parent(path);
    const node = this.disk.resolve(path);
    if (node === undefined) throw errno("ENOENT", path);
    if (node.kind === "dir") throw errno("EISDIR", path);
    this.disk.unlink(dir, name);
  }

  async rmdir(path: string): Promise<void> {
    await tick();
    this.disk.step();
    const node = this.disk.resolve(path);
    if (node === undefined) throw errno("ENOENT", path);
    if (node.kind !== "dir") throw errno("ENOTDIR", path);
    if (node.entries.size > 0) throw errno("ENOTEMPTY", path);
    const { dir, name } = this.disk.parent(path);
    this.disk.unlink(dir, name);
  }

  async stat(path: string): Promise<FileStat> {
    await tick();
    this.disk.step();
    const node = this.disk.resolve(path);
    if (node === undefined) throw errno("ENOENT", path);
    return { size: node.kind === "file" ? node.size : 0, isDirectory: node.kind === "dir" };
  }

  async freeBytes(_path: string): Promise<number> {
    await tick();
    this.disk.step();
    return Math.max(0, this.disk.capacityBytes - this.disk.usedBytes());
  }

  async syncDir(path: string): Promise<void> {
    await tick();
    this.disk.step();
    const node = this.disk.resolve(path);
    if (node?.kind !== "dir") throw errno("ENOTDIR", path);
    this.disk.commitMeta(node.id);
  }
}
