/**
 * The narrow file interface storage goes through (LevelDB's Env). The real one is
 * `NodeFileSystem`; tests add a simulated disk that loses or tears every write not covered by a
 * completed sync (test/support/sim-fs.ts). Errors carry Node's `code` (ENOENT, EEXIST, ENOSPC…).
 */
export interface FileHandle {
  /** Reads up to `length` bytes at `position`; returns the count read (0 at end of file). */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Writes up to `length` bytes at `position`; returns the count written (may be short). */
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Writes the buffers one after another at `position` (pwritev); returns the count written. */
  writev(buffers: readonly Uint8Array[], position: number): Promise<number>;
  /** Flushes the file's data (fdatasync): after it resolves, the bytes survive a power loss. */
  datasync(): Promise<void>;
  truncate(bytes: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

/** `read`: existing file, read only. `write`: existing file, read-write. `create`: new file
 * (fails with EEXIST if it exists), read-write. `replace`: create or truncate, read-write. */
export type OpenMode = "read" | "write" | "create" | "replace";

export interface FileStat {
  size: number;
  isDirectory: boolean;
}

export interface FileSystem {
  open(path: string, mode: OpenMode): Promise<FileHandle>;
  readdir(path: string): Promise<string[]>;
  /** Creates one directory; fails with EEXIST if it exists. */
  mkdir(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Gives the file at `existing` a second name; fails with EEXIST if `newPath` exists. Like
   * every directory change, volatile until the directory is synced. */
  link(existing: string, newPath: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Removes an empty directory. */
  rmdir(path: string): Promise<void>;
  stat(path: string): Promise<FileStat>;
  /** Flushes a directory, making the creations, renames and removals in it durable. */
  syncDir(path: string): Promise<void>;
  /** Free bytes available to this process on the file system holding `path`. */
  freeBytes(path: string): Promise<number>;
}
