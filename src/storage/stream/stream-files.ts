/** Names of the files inside a stream directory (docs/format.md §1). */
export const STREAM_DESCRIPTOR_FILE = "stream.json";
export const CHECKPOINT_FILE = "checkpoint";
export const QUARANTINE_DIR = "quarantine";
export const TMP_SUFFIX = ".tmp";
