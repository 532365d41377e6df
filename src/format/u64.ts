/**
 * u64 little-endian fields holding JavaScript-safe integers (docs/format.md, preamble). Two u32
 * halves are faster than BigInt and make an unsafe value visible instead of rounding it.
 */
const TWO_POW_32 = 2 ** 32;
/** The high half of any value below 2^53 is below 2^21. */
const HIGH_HALF_SAFE_LIMIT = 2 ** 21;

export function writeU64(buf: Buffer, value: number, offset: number): void {
  buf.writeUInt32LE(value % TWO_POW_32, offset);
  buf.writeUInt32LE(Math.floor(value / TWO_POW_32), offset + 4);
}

/** Returns the value, or -1 when it is not a safe integer (the caller reports corruption). */
export function readU64(buf: Buffer, offset: number): number {
  const high = buf.readUInt32LE(offset + 4);
  if (high >= HIGH_HALF_SAFE_LIMIT) return -1;
  return high * TWO_POW_32 + buf.readUInt32LE(offset);
}
