/**
 * How frames' payloads become bytes. JSON first (readable on the wire, every
 * runtime speaks it), behind an interface so a binary codec can replace it.
 * Strategies put Maps and Sets in their control data and `undefined` or NaN in
 * fields, which plain JSON loses: the JSON codec tags them and restores them,
 * so a value crosses a process boundary as it would cross structuredClone.
 */
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
  | { readonly [TAG]: "number"; readonly v: "NaN" | "Infinity" | "-Infinity" }
  | { readonly [TAG]: "object"; readonly v: Record<string, unknown> };

function toJsonValue(value: unknown): unknown {
  if (value === undefined) return { [TAG]: "undefined" };
  if (typeof value === "number") return Number.isFinite(value) ? value : { [TAG]: "number", v: String(value) };
  if (value === null || typeof value !== "object") {
    if (typeof value === "bigint" || typeof value === "function" || typeof value === "symbol") {
      throw new TypeError(`the JSON codec cannot carry a ${typeof value}`);
    }
    return value;
  }
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (value instanceof Map) return { [TAG]: "map", v: [...value].map(([k, v]) => [toJsonValue(k), toJsonValue(v)]) };
  if (value instanceof Set) return { [TAG]: "set", v: [...value].map(toJsonValue) };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = toJsonValue(v);
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
        return new Map(t.v.map(([k, v]) => [fromJsonValue(k), fromJsonValue(v)]));
      case "set":
        return new Set(t.v.map(fromJsonValue));
      case "object": {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(t.v)) out[k] = fromJsonValue(v);
        return out;
      }
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) out[k] = fromJsonValue(v);
  return out;
}

export const jsonCodec: Codec = {
  name: "json",
  encode: (value) => Buffer.from(JSON.stringify(toJsonValue(value)), "utf8"),
  decode: (bytes) => fromJsonValue(JSON.parse(bytes.toString("utf8"))),
};
