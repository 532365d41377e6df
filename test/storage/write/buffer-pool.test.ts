import { describe, expect, it } from "vitest";
import { BufferPool } from "../../../src/storage/write/buffer-pool.js";

describe("buffer pool", () => {
  it("hands a returned buffer out again, sized as asked", () => {
    const pool = new BufferPool(1024 * 1024);
    const a = pool.take(5000);
    expect(a.byteLength).toBe(5000);
    pool.give(a);
    const b = pool.take(6000);
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteLength).toBe(6000);
  });

  it("never takes in memory it did not allocate, such as Node's shared slab", () => {
    const pool = new BufferPool(1024 * 1024);
    const small = Buffer.allocUnsafe(100); // from Node's shared 8 KiB pool
    pool.give(small);
    const foreign = Buffer.allocUnsafeSlow(8192);
    pool.give(foreign);
    const next = pool.take(8000);
    expect(next.buffer).not.toBe(small.buffer);
    expect(next.buffer).not.toBe(foreign.buffer);
    const tiny = pool.take(100);
    pool.give(tiny);
    expect(pool.take(100).buffer).not.toBe(next.buffer);
  });

  it("keeps no more than its byte limit", () => {
    const pool = new BufferPool(8192);
    const taken = [pool.take(4096), pool.take(4096), pool.take(4096)];
    for (const buf of taken) pool.give(buf);
    const again = [pool.take(4096), pool.take(4096), pool.take(4096)];
    const reused = again.filter((buf) => taken.some((t) => t.buffer === buf.buffer));
    expect(reused).toHaveLength(2);
  });
});
