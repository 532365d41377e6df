/** Errors about a stream as a whole, raised by code (the HTTP layer gives them their status). */
import { TidemarkError } from "../../errors.js";

export const streamNotFound = (path: string) =>
  new TidemarkError("NOT_FOUND", `no stream at ${path}`, { stream: path });

/** A deleted stream that lives on only as the source of forks. */
export const streamGone = (path: string) =>
  new TidemarkError(
    "GONE",
    `the stream at ${path} was deleted; it remains only as the source of forks`,
    { stream: path },
  );
