/**
 * How a node's durable store turns values into bytes and back (DESIGN.md,
 * "Faults and durability": the record carries a format version, an unknown
 * one is refused, so liveswap can be upgraded node by node).
 *
 * Every stored value is the msgpack array [version, value]. The version comes
 * first and is a plain msgpack integer, so any later liveswap can read it
 * whatever the rest of the encoding became.
 */
import { Packr } from "msgpackr";
import { StoreCorruptError, StoreFormatError } from "../../core/errors.js";

/** The format this liveswap writes. Changing the Packr options below changes the bytes: that is a new version. */
export const RECORD_FORMAT_VERSION = 1;

/** The formats this liveswap reads. */
export const READABLE_RECORD_FORMATS: readonly number[] = [1];

/**
 * structuredClone: Map, Set, undefined, Date, cyclic and shared references round-trip (node state is plain data of
 * that kind). It also makes msgpackr write its record structures inside each value, so every value decodes alone,
 * in another process, years later: no structure table shared between values.
 */
const packr = new Packr({ structuredClone: true });

export function encodeRecord(value: unknown): Buffer {
  return packr.pack([RECORD_FORMAT_VERSION, value]);
}

/**
 * The value stored in `bytes`. `file` and `what` ("the snapshot", "log entry 12") name it in errors: a record of an
 * unknown version is a StoreFormatError, bytes that are no record at all a StoreCorruptError.
 */
export function decodeRecord(bytes: Uint8Array, file: string, what: string): unknown {
  let decoded: unknown;
  try {
    decoded = packr.unpack(bytes);
  } catch (e) {
    throw new StoreCorruptError(file, `${what} does not decode (msgpack: ${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  if (!Array.isArray(decoded) || decoded.length !== 2) {
    throw new StoreCorruptError(file, `${what} is not a liveswap record (expected [format version, value])`);
  }
  const version: unknown = decoded[0];
  if (typeof version !== "number" || !READABLE_RECORD_FORMATS.includes(version)) {
    throw new StoreFormatError(file, formatVersionText(version), READABLE_RECORD_FORMATS, what);
  }
  return decoded[1];
}

/** A version as found, for the error message ("7", or what stood in its place: `"x"`). */
function formatVersionText(version: unknown): string {
  return typeof version === "number" ? String(version) : JSON.stringify(version) ?? String(version);
}
