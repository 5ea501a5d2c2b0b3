/**
 * The default wire codec: MessagePack, by msgpackr (faster and smaller than the JSON codec: `npm run bench -- codec`).
 * `moreTypes` carries Sets, `undefined` and Dates as they are (NaN and the infinities are plain msgpack floats); a Map
 * is tagged as the JSON codec tags it (`{"$ls": "map", v: [[k, v], ...]}`, a plain object with its own `$ls` key
 * escaped), because msgpack writes a plain object and a Map alike. It refuses what the JSON codec refuses, in the same
 * words: msgpackr would write a class instance as a plain object without a word, so a walk that allocates nothing
 * looks at the value first (and finds whether anything needs a tag).
 *
 * Options, measured (raw msgpackr encode + decode of a data frame against JSON.stringify + JSON.parse, one run,
 * interleaved, best of 6): `structuredClone: true` (records written inside each value) 0.58, structuredClone without
 * records 1.11, records alone 1.07, `useRecords: false` with moreTypes 1.78. structuredClone keeps a map of every object it writes (for shared references and
 * cycles, which a message does not need), and records written inside each frame must be read back and compiled by
 * the decoder every frame; so neither is used.
 *
 * Every frame decodes alone: with `useRecords: false` msgpackr keeps no structure from one value to the next, on
 * either side. A frame resent after a reconnect, read back from an outbox's spill file, or sent by a peer that
 * restarted since its last frame never depends on a frame before it.
 *
 * What this codec reads: its own frames, and JSON frames (the first byte `{`, which never begins a msgpack message of
 * this codec's: it writes msgpack only for an object, an array, a Set or a Date, which msgpack begins with a header
 * byte of 0x80 or more). The JSON ones are the hello, the refusal and the heartbeat, which every codec writes in JSON
 * so that two ends of different codecs can tell (codec-choice.ts), and, wrapped as `{"$json": value}`, what msgpack
 * cannot carry faithfully or cannot tell from JSON: an own key "__proto__" (msgpackr renames it), a value nested
 * deeper than MAX_DEPTH, a bare number or string (123 is the byte `{` in msgpack). No wire message is either.
 */
import { Packr, Unpackr } from "msgpackr";
import { messageOf } from "../../core/errors.js";
import { CodecFormatError, jsonCodec, UnsupportedValueError, unsupportedObject, unsupportedPrimitive, type Codec } from "./codec.js";

const NAME = "msgpack";

/** Deeper than this, a value is written by the JSON codec (which carries it, or says why not); a msgpack one this deep is refused. */
const MAX_DEPTH = 200;

/** `{`: how every JSON frame begins, and no msgpack message of this codec (see above). */
const JSON_FIRST_BYTE = 0x7b;

/** The one key of a value this codec wrote by the JSON codec (see above). */
const WRAP = "$json";

/** The key of a tagged value (the JSON codec's): a Map, or a plain object that has this key itself. */
const TAG = "$ls";

/** What a value needs: nothing (msgpack as it is), tags (a Map, an object with a `$ls` key), or the JSON codec. */
const PLAIN = 0;
const TAGS = 1;
const JSON_PATH = 2;
type Route = typeof PLAIN | typeof TAGS | typeof JSON_PATH;

/** The value a JSON frame carries: unwrapped if this codec wrapped it, else the frame itself (a hello, a heartbeat). */
function fromJson(bytes: Buffer): unknown {
  const v = jsonCodec.decode(bytes);
  if (v === null || typeof v !== "object" || !Object.hasOwn(v, WRAP)) return v;
  let keys = 0;
  for (const _ in v) if (++keys > 1) return v;
  return (v as Record<string, unknown>)[WRAP];
}

/**
 * How `value` must be written (see Route). Throws what the JSON codec throws for what neither carries. Allocates
 * nothing for plain objects and arrays (most frames).
 */
function route(value: unknown, depth: number): Route {
  switch (typeof value) {
    case "number":
      // msgpackr writes -0 as the integer 0: a frame holding one goes the JSON way, which keeps it (as structuredClone).
      return Object.is(value, -0) ? JSON_PATH : PLAIN;
    case "string":
    case "boolean":
    case "undefined":
      return PLAIN;
    case "object":
      break;
    default:
      throw unsupportedPrimitive(NAME, value); // bigint, function, symbol
  }
  if (value === null) return PLAIN;
  if (depth > MAX_DEPTH) return JSON_PATH;
  if (Array.isArray(value)) return routeAll(value, depth);
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    let r: Route = Object.hasOwn(value, TAG) ? TAGS : PLAIN;
    for (const k in value) {
      if (k === "__proto__") return JSON_PATH;
      const c = route((value as Record<string, unknown>)[k], depth + 1);
      if (c === JSON_PATH) return c;
      if (c === TAGS) r = TAGS;
    }
    return r;
  }
  if (value instanceof Map) {
    for (const [k, v] of value) if (route(k, depth + 1) === JSON_PATH || route(v, depth + 1) === JSON_PATH) return JSON_PATH;
    return TAGS;
  }
  if (value instanceof Set) return routeAll(value, depth);
  if (value instanceof Date) return PLAIN;
  throw unsupportedObject(NAME, value);
}

function routeAll(values: Iterable<unknown>, depth: number): Route {
  let r: Route = PLAIN;
  for (const v of values) {
    const c = route(v, depth + 1);
    if (c === JSON_PATH) return c;
    if (c === TAGS) r = TAGS;
  }
  return r;
}

/**
 * `value` with its Maps tagged and its objects with a `$ls` key escaped (route said it needs tags): copied only along
 * the paths to what changed, the rest written as it is (a control message's plain parts are not copied).
 */
function tagged(value: unknown): unknown {
  if (value === null || typeof value !== "object" || value instanceof Date) return value;
  if (Array.isArray(value)) return taggedItems(value) ?? value;
  if (value instanceof Map) return { [TAG]: "map", v: Array.from(value, ([k, v]) => [tagged(k), tagged(v)]) };
  if (value instanceof Set) {
    const items = taggedItems(Array.from(value));
    return items === undefined ? value : new Set(items);
  }
  const rec = value as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  for (const k in rec) {
    const v = rec[k];
    const t = tagged(v);
    if (out === undefined && t !== v && typeof v === "object") {
      out = {};
      for (const before in rec) {
        if (before === k) break;
        out[before] = rec[before];
      }
    }
    if (out !== undefined) out[k] = t;
  }
  return Object.hasOwn(rec, TAG) ? { [TAG]: "object", v: out ?? rec } : (out ?? rec);
}

/** The items tagged, or undefined when none changed. */
function taggedItems(items: readonly unknown[]): unknown[] | undefined {
  let out: unknown[] | undefined;
  for (let i = 0; i < items.length; i++) {
    const v = items[i];
    const t = tagged(v);
    if (out === undefined && t !== v && typeof v === "object") out = items.slice(0, i);
    if (out !== undefined) out.push(t);
  }
  return out;
}

function malformed(detail: string): CodecFormatError {
  return new CodecFormatError(NAME, detail);
}

/**
 * A decoded value as it was written: its tags undone, in place (the value is fresh from the decoder, no one else
 * holds it); nothing allocated when it holds no tag. Anything this codec never writes came from bytes it did not
 * write (msgpack's binary, 64-bit integers, msgpackr's other extensions: errors, regular expressions, typed arrays)
 * and is refused.
 */
function restore(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case "number":
    case "string":
    case "boolean":
    case "undefined":
      return value;
    case "object":
      break;
    default:
      throw malformed(`it holds a ${typeof value}, which this codec never writes`);
  }
  if (value === null) return value;
  if (depth > MAX_DEPTH) throw malformed(`values nested deeper than ${MAX_DEPTH}, which this codec never writes`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const r = restore(v, depth + 1);
      if (r !== v) value[i] = r;
    }
    return value;
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    const rec = value as Record<string, unknown>;
    if (Object.hasOwn(rec, TAG)) return untag(rec, depth);
    restoreFields(rec, depth);
    return rec;
  }
  if (value instanceof Set) {
    const items = Array.from(value as Set<unknown>);
    let changed = false;
    for (let i = 0; i < items.length; i++) {
      const r = restore(items[i], depth + 1);
      if (r !== items[i]) {
        items[i] = r;
        changed = true;
      }
    }
    return changed ? new Set(items) : value;
  }
  if (value instanceof Date) return value;
  const name = (value as { constructor?: { name?: string } }).constructor?.name ?? "object";
  throw malformed(`it holds a ${name}, which this codec never writes`);
}

function restoreFields(rec: Record<string, unknown>, depth: number): void {
  for (const k in rec) {
    const v = rec[k];
    const r = restore(v, depth + 1);
    if (r !== v) rec[k] = r;
  }
}

/** A tagged Map, or an escaped object; any other tag is not something this codec wrote. */
function untag(rec: Record<string, unknown>, depth: number): unknown {
  const v = rec.v;
  if (rec[TAG] === "map" && Array.isArray(v)) {
    return new Map(
      v.map((pair: unknown) => {
        if (!Array.isArray(pair) || pair.length !== 2) throw malformed("a tagged map holds an entry that is not a [key, value] pair");
        return [restore(pair[0], depth + 2), restore(pair[1], depth + 2)];
      }),
    );
  }
  if (rec[TAG] === "object" && v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    restoreFields(v as Record<string, unknown>, depth + 1);
    return v;
  }
  throw malformed(`a tagged value ${JSON.stringify(rec[TAG]) ?? "of no kind"} that this codec never writes (a map of [key, value] pairs, or an escaped object)`);
}

/**
 * A msgpack codec of its own (its own msgpackr encoder and decoder). The runtime uses `msgpackCodec`; a test makes a
 * fresh one to show that a frame decodes without anything another frame taught the decoder.
 */
export function makeMsgpackCodec(): Codec {
  const packr = new Packr({ moreTypes: true, useRecords: false });
  // No shared references or cycles: this codec never writes them (refused as bytes it did not write).
  const unpackr = new Unpackr({ moreTypes: true, useRecords: false, structuredClone: false });
  return {
    name: NAME,
    encode: (value) => {
      const r = route(value, 0); // throws for what neither codec carries
      if (r !== JSON_PATH && value !== null && typeof value === "object") return packr.pack(r === TAGS ? tagged(value) : value);
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
        return restore(value, 0);
      } catch (e) {
        if (e instanceof RangeError) throw new CodecFormatError(NAME, "values nested too deep");
        throw e;
      }
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
