/**
 * Assertions state what must be true if the code is correct (TigerStyle). A failed assertion is
 * a bug in tidemark, never a user error: those are typed errors (`errors.ts`).
 */
export class AssertionError extends Error {
  override name = "AssertionError";
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(`assertion failed: ${message}`);
}
