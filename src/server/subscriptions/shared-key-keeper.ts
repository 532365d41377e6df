/**
 * The webhook signing key of servers sharing one store: one key pair for all of them, in the
 * shared record `signing` (docs/jetstream.md, "Shared records"), so a wake sent by any process
 * verifies against the JWKS served by any other. The first process to need it makes it; the
 * record is written by compare-and-set from "none", so two making it at once keep one.
 */
import { TidemarkError } from "../../errors.js";
import type { SharedRecords } from "../store/stream-store.js";
import type { KeyKeeper, StoredKey } from "./signing.js";

const KEY = "signing";

export function sharedKeyKeeper(records: SharedRecords): KeyKeeper {
  const load = async (): Promise<StoredKey | undefined> => {
    const { value } = await records.get(KEY);
    if (value === undefined) return undefined;
    try {
      return JSON.parse(Buffer.from(value).toString("utf8")) as StoredKey;
    } catch (err) {
      throw new TidemarkError("CORRUPT", "the shared webhook signing key is not JSON", {}, err);
    }
  };
  return {
    load,
    save: async (key) => {
      const written = await records.put(KEY, Buffer.from(JSON.stringify(key)), 0);
      if (written !== undefined) return key;
      const kept = await load();
      if (kept === undefined) {
        throw new TidemarkError(
          "STORE_CONFLICT",
          "the shared webhook key changed while it was made: try again",
        );
      }
      return kept;
    },
  };
}
