/**
 * Layout constants of the on-disk format (docs/format.md). Their relations are asserted at load,
 * so a change that breaks the arithmetic fails at import, not on a user's disk.
 *
 *   segment := header record*                                  (§4)
 *   header  := magic[4] version u16 headerBytes u16 baseSeq u64 createdAtMs u64
 *              streamTag[4] crc u32                              = 32 bytes (§4.1)
 *   record  := crc u32 bodyBytes u32 seq u64 timestampMs u64
 *              flags u8 reserved u8 attrBytes u16 body           = 28 + bodyBytes (§4.2)
 *   log     := log-header log-record*                             (§14)
 *   log-header := magic[4] version u16 headerBytes u16 fileSeq u64 createdAtMs u64
 *              reserved u32 crc u32                              = 32 bytes (§14.1)
 *   log-record := crc u32 bodyBytes u32 streamId[8] segmentBaseSeq u64 segmentOffset u32
 *              kind u8 reserved[3] body                          = 32 + bodyBytes (§14.2)
 */
import { assert } from "../assert.js";

/** Version of the files' own formats (segments, indexes, checkpoints, consumers, stream.json). */
export const FORMAT_VERSION = 1;
/** Version of the journal as a whole (tidemark.json, §2, §10): 2 adds the commit log (§14). */
export const JOURNAL_FORMAT_VERSION = 2;

export const SEGMENT_MAGIC = 0x47534d54; // "TMSG" read as u32 LE
export const SEGMENT_HEADER_BYTES = 32;
export const SEGMENT_HEADER_CRC_OFFSET = 28;

export const RECORD_HEADER_BYTES = 28;
export const RECORD_CRC_BYTES = 4;
export const RECORD_FLAG_COMMIT = 0x01;
export const RECORD_FLAGS_KNOWN = RECORD_FLAG_COMMIT;
/** Hard ceiling on a record body; any larger length field is corruption (§4.2). */
export const RECORD_BODY_BYTES_LIMIT = 2 ** 30;
export const RECORD_ATTR_BYTES_LIMIT = 0xffff;

export const INDEX_MAGIC = 0x58494d54; // "TMIX"
export const INDEX_HEADER_BYTES = 16;
export const INDEX_ENTRY_BYTES = 24;
export const INDEX_INTERVAL_BYTES = 64 * 1024;

export const CHECKPOINT_MAGIC = 0x4b434d54; // "TMCK"
export const CHECKPOINT_BYTES = 56;

/** Segment file names: 20 decimal digits of the base seq, then this suffix (§4). */
export const SEGMENT_SUFFIX = ".seg";
export const INDEX_SUFFIX = ".idx";
export const SEQ_DIGITS = 20;

export const LOG_MAGIC = 0x474c4d54; // "TMLG"
export const LOG_HEADER_BYTES = 32;
export const LOG_RECORD_HEADER_BYTES = 32;
export const LOG_RECORD_KIND_APPEND = 1;
export const LOG_SUFFIX = ".log";
export const STREAM_ID_BYTES = 8;

/** Seqs and timestamps are u64 on disk but must stay JavaScript-safe integers. */
export const U64_SAFE_LIMIT = Number.MAX_SAFE_INTEGER;

/** Segments stay addressable with u32 offsets in the index (§6). */
export const SEGMENT_BYTES_LIMIT = 2 ** 31;

assert(4 + 2 + 2 + 8 + 8 + 4 + 4 === SEGMENT_HEADER_BYTES, "segment header fields add up");
assert(SEGMENT_HEADER_CRC_OFFSET + 4 === SEGMENT_HEADER_BYTES, "segment crc ends the header");
assert(4 + 4 + 8 + 8 + 1 + 1 + 2 === RECORD_HEADER_BYTES, "record header fields add up");
assert(8 + 8 + 4 + 4 === INDEX_ENTRY_BYTES, "index entry fields add up");
assert(4 + 2 + 2 + 8 === INDEX_HEADER_BYTES, "index header fields add up");
assert(4 + 2 + 2 + 8 * 5 + 4 + 4 === CHECKPOINT_BYTES, "checkpoint fields add up");
assert(
  SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES + RECORD_BODY_BYTES_LIMIT <= SEGMENT_BYTES_LIMIT,
  "the largest record fits the largest segment",
);
assert(RECORD_ATTR_BYTES_LIMIT < RECORD_BODY_BYTES_LIMIT, "attributes fit a body");
assert(4 + 2 + 2 + 8 + 8 + 4 + 4 === LOG_HEADER_BYTES, "log header fields add up");
assert(
  4 + 4 + STREAM_ID_BYTES + 8 + 4 + 1 + 3 === LOG_RECORD_HEADER_BYTES,
  "log record header fields add up",
);
assert(SEGMENT_BYTES_LIMIT <= 2 ** 32, "segment offsets fit the log record's u32");
