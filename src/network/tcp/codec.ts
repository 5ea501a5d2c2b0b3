/**
 * How frames' payloads become bytes, behind an interface: the JSON codec here
 * (readable on the wire, every runtime speaks it) and the MessagePack codec
 * (msgpack-codec.ts, the default: see codec-choice.ts). Strategies put Maps and Sets in their control data and `undefined` or NaN in
 * fields, which plain JSON loses: the JSON codec tags them (and Dates) and
 * restores them. Anything else that is not plain data (a class instance, a
 * typed array) is refused with an error rather than silently changed.
 */
import { LiveswapError, messageOf } from "../../core/errors.js";

/** A value the codec cannot carry without changing it; the message names its type and what to send instead. */
export class UnsupportedValueError extends LiveswapError {
  readonly code = "CODEC_UNSUPPORTED_VALUE";
  constructor(readonly codec: string, detail: string) {
    super(`the ${codec} codec ${detail}`);
  }
}

/**
 * Bytes that parse but are not something this codec wrote: a tagged value of the wrong shape (a peer's bug, or a
 * hostile peer). Refused with this error, never a TypeError from inside the decoder.
 */
export class CodecFormatError extends LiveswapError {
  readonly code = "CODEC_FORMAT";
  constructor(readonly codec: string, detail: string) {
    super(`the ${codec} codec cannot decode this frame: ${detail}`);
  }
}

/**
 * The two ends of a link (or a control session) use different codecs: refused at the hello, which every codec writes
 * in JSON so that each side can read the other's and say so.
 */
export class CodecMismatchError extends LiveswapError {
  readonly code = "CODEC_MISMATCH";
  constructor(
    readonly peer: string,
    readonly theirs: string,
    readonly ours: string,
    self: string,
  ) {
    super(
      `${peer} speaks the ${theirs} wire codec, this process (${self}) the ${ours} codec: both ends of a link must use the same one; ` +
        `give every node and ctl the same cluster file ("codec:", default msgpack) and restart the odd one out`,
    );
  }
}

/** The refusal of a bigint, function or symbol, in words every codec shares (the fix: what to send instead). */
export function unsupportedPrimitive(codec: string, value: unknown): UnsupportedValueError {
  return new UnsupportedValueError(codec, `cannot carry a ${typeof value}; send plain data (a bigint as a string, no functions or symbols)`);
}

/** The refusal of an object that is not plain data (a class instance, a typed array, a Buffer...), naming its class. */
export function unsupportedObject(codec: string, value: object): UnsupportedValueError {
  const name = (value as { constructor?: { name?: string } }).constructor?.name ?? "object";
  return new UnsupportedValueError(codec, `carries plain objects, arrays, Maps, Sets and Dates, not a ${name}; send plain data`);
}

export interface Codec {
  readonly name: string;
  encode(value: unknown): Buffer;
  decode(bytes: Buffer): unknown;
}

/** The one key tagged values use; a plain object with this key is itself escaped. */
const TAG = "$ls";

type Tagged =
  | { readonly [TAG]: "map"; readonly v: [unknown, unknown][] }
  | { readonly [TAG]: "set"; readonly v: unknown[] }
  | { readonly [TAG]: "undefined" }
  | { readonly [TAG]: "number"; readonly v: "NaN" | "Infinity" | "-Infinity" | "-0" }
  | { readonly [TAG]: "object"; readonly v: Record<string, unknown> }
  | { readonly [TAG]: "date"; readonly v: number };

function toJsonValue(value: unknown): unknown {
  if (value === undefined) return { [TAG]: "undefined" };
  // -0 too: JSON writes it as 0 (String(-0) is "0" as well, hence the literal).
  if (typeof value === "number") return Number.isFinite(value) && !Object.is(value, -0) ? value : { [TAG]: "number", v: Object.is(value, -0) ? "-0" : String(value) };
  if (value === null || typeof value !== "object") {
    if (typeof value === "bigint" || typeof value === "function" || typeof value === "symbol") throw unsupportedPrimitive("JSON", value);
    return value;
  }
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (value instanceof Map) return { [TAG]: "map", v: [...value].map(([k, v]) => [toJsonValue(k), toJsonValue(v)]) };
  if (value instanceof Set) return { [TAG]: "set", v: [...value].map(toJsonValue) };
  if (value instanceof Date) return { [TAG]: "date", v: value.getTime() };
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    // A class instance, a typed array, a Buffer...: JSON would turn it into something else without a word.
    throw unsupportedObject("JSON", value);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    // A key named "__proto__" (an object of null prototype may hold one) stays a key; assigning it set the prototype.
    if (k === "__proto__") Object.defineProperty(out, k, { value: toJsonValue(v), enumerable: true, writable: true, configurable: true });
    else out[k] = toJsonValue(v);
  }
  return Object.hasOwn(out, TAG) ? { [TAG]: "object", v: out } : out;
}

function fromJsonValue(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(fromJsonValue);
  const rec = value as Record<string, unknown>;
  if (Object.hasOwn(rec, TAG)) {
    const t = rec as Tagged;
    switch (t[TAG]) {
      case "undefined":
        return undefined;
      case "number":
        return Number(t.v);
      case "map":
        return new Map(arrayOf(t.v, "map").map((pair) => {
          const [k, v] = arrayOf(pair, "map entry");
          return [fromJsonValue(k), fromJsonValue(v)];
        }));
      case "set":
        return new Set(arrayOf(t.v, "set").map(fromJsonValue));
      case "date":
        return new Date(t.v);
      case "object":
        if (t.v === null || typeof t.v !== "object" || Array.isArray(t.v)) throw malformed("object", t.v);
        return plain(t.v);
    }
  }
  return plain(rec);
}

/** A tagged value's contents, which must be an array; anything else is a frame this codec did not write. */
function arrayOf(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw malformed(what, v);
  return v;
}

function malformed(what: string, v: unknown): CodecFormatError {
  return new CodecFormatError("JSON", `a tagged ${what} holds ${v === null ? "null" : Array.isArray(v) ? "an array" : typeof v}, not what a ${what} is written as`);
}

/** An own property for every key, "__proto__" included (an assignment would set the prototype instead). */
function plain(rec: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) Object.defineProperty(out, k, { value: fromJsonValue(v), enumerable: true, writable: true, configurable: true });
  return out;
}

/**
 * Does `value` hold anything plain JSON would change or lose (so it must be tagged, or refused)? A walk that
 * allocates nothing: most frames are plain data, and copying each one only to find nothing to tag cost more than
 * the JSON itself.
 */
function needsTags(value: unknown, depth = 0): boolean {
  if (value === null) return false;
  switch (typeof value) {
    case "string":
    case "boolean":
      return false;
    case "number":
      return !Number.isFinite(value) || Object.is(value, -0);
    case "object":
      break;
    default:
      return true; // undefined, bigint, function, symbol
  }
  if (depth > 200) return true; // the tagging walk says what is wrong with a frame nested this deep
  if (Array.isArray(value)) {
    for (const v of value as unknown[]) if (needsTags(v, depth + 1)) return true;
    return false;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype || Object.hasOwn(value, TAG)) return true;
  for (const k in value) if (needsTags((value as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

const MSGPACK_ON_JSON = "it is MessagePack, not JSON: the other side speaks the msgpack codec (both ends of a link must use the same one)";

/** Does a frame begin as the msgpack codec begins every message (a record definition, or a map)? */
function looksLikeMsgpack(bytes: Buffer): boolean {
  const b = bytes[0];
  return b !== undefined && ((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf || (b >= 0xd4 && b <= 0xd8) || (b >= 0xc7 && b <= 0xc9));
}

/** Frames up to this many characters skip the decoding walk when they hold no tag (most data frames are far shorter). */
const FAST_DECODE_CHARS = 8192;

export const jsonCodec: Codec = {
  name: "json",
  encode: (value) => Buffer.from(JSON.stringify(needsTags(value) ? toJsonValue(value) : value), "utf8"),
  decode: (bytes) => {
    let parsed: unknown;
    const text = bytes.toString("utf8");
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      if (e instanceof RangeError) throw new CodecFormatError("JSON", "values nested too deep");
      throw new CodecFormatError("JSON", looksLikeMsgpack(bytes) ? MSGPACK_ON_JSON : `it is not JSON (${messageOf(e)})`);
    }
    // No tag written, plainly or escaped: JSON.parse's value is already the frame (own properties, "__proto__" too).
    // Only for a short text, which cannot nest deeper than half its length: a longer one is walked, and refused
    // there when it nests too deep for what handles it next.
    if (text.length <= FAST_DECODE_CHARS && !text.includes(TAG) && !text.includes("\\u")) return parsed;
    try {
      return fromJsonValue(parsed);
    } catch (e) {
      // A frame nested thousands deep would otherwise surface as the engine's stack overflow.
      if (e instanceof RangeError) throw new CodecFormatError("JSON", "values nested too deep");
      throw e;
    }
  },
};
