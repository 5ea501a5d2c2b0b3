/**
 * The default wire codec: MessagePack, by msgpackr (about twice as fast as the JSON codec for an encode and a decode,
 * and smaller: `npm run bench -- codec`). `structuredClone: true` carries Maps, Sets, `undefined` and Dates as they
 * are (NaN and the infinities are plain msgpack floats), so nothing needs tagging. It refuses what the JSON codec
 * refuses, in the same words: msgpackr would write a class instance as a plain object without a word, so a walk that
 * allocates nothing looks at the value first.
 *
 * Every frame decodes alone: msgpackr writes each object shape it uses (a "record") inside the value that uses it,
 * and numbers records from the start again in every value (no `structures` shared, no `sequential`). A frame resent
 * after a reconnect, read back from an outbox's spill file, or sent by a peer that restarted since its last frame
 * therefore never depends on a frame before it. (useRecords: false would do too, but msgpackr then writes a plain
 * object and a Map alike and reads both back as one of them.)
 *
 * What this codec reads: its own frames, and JSON frames (the first byte `{`, which never begins a msgpack message of
 * this codec's: it writes msgpack only for an object, an array, a Map, a Set or a Date, which msgpack begins with a
 * header byte of 0x80 or more). The JSON ones are the hello, the refusal and the heartbeat, which every codec writes in
 * JSON so that two ends of different codecs can tell (codec-choice.ts), and, wrapped as `{"$json": value}`, what
 * msgpack cannot carry faithfully or cannot tell from JSON: an own key "__proto__" (msgpackr renames it), a value
 * nested deeper than MAX_DEPTH, a bare number or string (123 is the byte `{` in msgpack). No wire message is either.
 */
import { Unpackr, Packr } from "msgpackr";
import { messageOf } from "../../core/errors.js";
import { CodecFormatError, jsonCodec, UnsupportedValueError, unsupportedObject, unsupportedPrimitive, type Codec } from "./codec.js";

const NAME = "msgpack";

/** Deeper than this, a value is written by the JSON codec (which carries it, or says why not); a msgpack one this deep is refused. */
const MAX_DEPTH = 200;

/** `{`: how every JSON frame of the JSON codec begins, and no msgpack message of this codec (an object: a record or a map). */
const JSON_FIRST_BYTE = 0x7b;

/** The one key of a value this codec wrote by the JSON codec (see above). */
const WRAP = "$json";

/** The value a JSON frame carries: unwrapped if this codec wrapped it, else the frame itself (a hello, a heartbeat). */
function fromJson(bytes: Buffer): unknown {
  const v = jsonCodec.decode(bytes);
  if (v === null || typeof v !== "object" || !Object.hasOwn(v, WRAP)) return v;
  let keys = 0;
  for (const _ in v) if (++keys > 1) return v;
  return (v as Record<string, unknown>)[WRAP];
}

/**
 * Does `value` need the JSON codec's path (true), or can msgpackr carry it as it is (false)? Throws what the JSON
 * codec throws for what neither carries. Allocates nothing for plain objects and arrays (most frames).
 */
function needsJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "string":
    case "number":
    case "boolean":
    case "undefined":
      return false;
    case "object":
      break;
    default:
      throw unsupportedPrimitive(NAME, value); // bigint, function, symbol
  }
  if (value === null) return false;
  if (depth > MAX_DEPTH) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (needsJson(value[i], depth + 1)) return true;
    return false;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    for (const k in value) {
      if (k === "__proto__" || needsJson((value as Record<string, unknown>)[k], depth + 1)) return true;
    }
    return false;
  }
  if (value instanceof Map) {
    for (const [k, v] of value) if (needsJson(k, depth + 1) || needsJson(v, depth + 1)) return true;
    return false;
  }
  if (value instanceof Set) {
    for (const v of value) if (needsJson(v, depth + 1)) return true;
    return false;
  }
  if (value instanceof Date) return false;
  throw unsupportedObject(NAME, value);
}

/**
 * A decoded value holds only what this codec writes; anything else came from bytes it did not write (msgpack's
 * binary, 64-bit integers, or msgpackr's other extensions: errors, regular expressions, typed arrays; a cycle).
 */
function checkDecoded(value: unknown, depth: number): void {
  switch (typeof value) {
    case "string":
    case "number":
    case "boolean":
    case "undefined":
      return;
    case "object":
      break;
    default:
      throw new CodecFormatError(NAME, `it holds a ${typeof value}, which this codec never writes`);
  }
  if (value === null) return;
  if (depth > MAX_DEPTH) throw new CodecFormatError(NAME, `values nested deeper than ${MAX_DEPTH} (or a cycle), which this codec never writes`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) checkDecoded(value[i], depth + 1);
    return;
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const k in value) checkDecoded((value as Record<string, unknown>)[k], depth + 1);
    return;
  }
  if (value instanceof Map) {
    for (const [k, v] of value) {
      checkDecoded(k, depth + 1);
      checkDecoded(v, depth + 1);
    }
    return;
  }
  if (value instanceof Set) {
    for (const v of value) checkDecoded(v, depth + 1);
    return;
  }
  if (value instanceof Date) return;
  const name = (value as { constructor?: { name?: string } }).constructor?.name ?? "object";
  throw new CodecFormatError(NAME, `it holds a ${name}, which this codec never writes`);
}

/**
 * A msgpack codec of its own (its own msgpackr encoder and decoder). The runtime uses `msgpackCodec`; a test makes a
 * fresh one to show that a frame decodes without anything another frame taught the decoder.
 */
export function makeMsgpackCodec(): Codec {
  const packr = new Packr({ structuredClone: true });
  // A decoder apart from the encoder: a Packr reads with the record table its own encoding last filled.
  const unpackr = new Unpackr({ structuredClone: true });
  return {
    name: NAME,
    encode: (value) => {
      const json = needsJson(value, 0); // throws for what neither codec carries
      if (!json && value !== null && typeof value === "object") return packr.pack(value);
      try {
        return jsonCodec.encode({ [WRAP]: value });
      } catch (e) {
        if (e instanceof RangeError) throw new UnsupportedValueError(NAME, "cannot carry a value nested this deep (or a cycle); send plain data");
        throw e;
      }
    },
    decode: (bytes) => {
      if (bytes[0] === JSON_FIRST_BYTE) return fromJson(bytes);
      let value: unknown;
      try {
        value = unpackr.unpack(bytes);
      } catch (e) {
        throw new CodecFormatError(NAME, formatProblem(e));
      }
      try {
        checkDecoded(value, 0);
      } catch (e) {
        if (e instanceof RangeError) throw new CodecFormatError(NAME, "values nested too deep");
        throw e;
      }
      return value;
    },
  };
}

/** Why msgpackr could not read a frame, in words: a frame cut short, nested too deep, or not msgpack this codec writes. */
function formatProblem(e: unknown): string {
  if (e instanceof RangeError) return "values nested too deep";
  if ((e as { incomplete?: unknown } | null)?.incomplete === true) return "it ends in the middle of a value";
  return `it is not MessagePack this codec writes (${messageOf(e)})`;
}

export const msgpackCodec: Codec = makeMsgpackCodec();
