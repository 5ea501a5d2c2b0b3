import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { CodecFormatError, jsonCodec, UnsupportedValueError, type Codec } from "./codec.js";
import { wireCodec } from "./codec-choice.js";
import { encodeFrame, FrameDecoder } from "./frame.js";
import { makeMsgpackCodec, msgpackCodec } from "./msgpack-codec.js";
import { SpillBudget, SpillQueue } from "./outbox-spill.js";

const leaf = fc.oneof(
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.double(), // NaN, the infinities and -0 among them
  fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }),
  fc.constant(undefined),
  fc.date({ noInvalidDate: true }),
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("array"), tie("object"), tie("map"), tie("set")),
  array: fc.array(tie("value"), { maxLength: 4 }),
  object: fc.dictionary(fc.oneof(fc.string(), fc.constantFrom("$ls", "__proto__", "constructor", "\\u0024ls", "toString")), tie("value"), { maxKeys: 4 }),
  map: fc.array(fc.tuple(fc.oneof(fc.string(), fc.integer(), tie("value")), tie("value")), { maxLength: 3 }).map((pairs) => new Map(pairs)),
  set: fc.array(tie("value"), { maxLength: 3 }).map((xs) => new Set(xs)),
}));

const same = (a: unknown, b: unknown): void => expect(a).toEqual(b);

describe("the msgpack codec", () => {
  it("round-trips plain data, Maps, Sets, undefined, NaN, the infinities, Dates, nested, a __proto__ key and $ls keys", () => {
    const v = {
      plain: { a: 1, b: "two", c: [true, null, 3.5] },
      m: new Map<unknown, unknown>([["x", 1], [2, new Set(["y", undefined])], [{ k: 1 }, new Map([["deep", [new Date(5)]]])]]),
      u: undefined,
      nums: [Number.NaN, Infinity, -Infinity, 2 ** 53 - 1, -(2 ** 40), 0.1],
      d: new Date(1_700_000_000_123),
      $ls: "a user's own key",
      nested: { $ls: "map", v: [["not", "a map"]] },
    };
    const back = msgpackCodec.decode(msgpackCodec.encode(v)) as typeof v;
    expect(back).toEqual(v);
    expect(back.m).toBeInstanceOf(Map);
    expect(back.m.get(2)).toBeInstanceOf(Set);
    expect(Object.hasOwn(back, "u")).toBe(true);
    // A key named __proto__ stays a key (msgpackr would rename it: such a value takes the JSON path), never a prototype.
    const evil = JSON.parse('{"__proto__":{"polluted":true},"n":1}') as Record<string, unknown>;
    const e = msgpackCodec.decode(msgpackCodec.encode({ inner: evil })) as { inner: Record<string, unknown> };
    expect(Object.getPrototypeOf(e.inner)).toBe(Object.prototype);
    expect(Object.keys(e.inner)).toEqual(["__proto__", "n"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("round-trips what it writes by the JSON codec: bare numbers (123 is `{` in msgpack), strings, a key named $json", () => {
    const values = [123, 91, 0, -0, [-0], { z: -0 }, new Map([["k", -0]]), -1, "x", "", null, undefined, true, Number.NaN, [{ ["__proto__"]: "" }], { $json: 1 }, JSON.parse('{"$json":1,"__proto__":2}') as unknown, [123]];
    for (const v of values) expect(msgpackCodec.decode(msgpackCodec.encode(v))).toEqual(v);
    const wrapped = JSON.parse('[{"__proto__":{"x":1}}]') as unknown;
    const back = msgpackCodec.decode(msgpackCodec.encode(wrapped)) as Record<string, unknown>[];
    expect(Object.keys(back[0] as object)).toEqual(["__proto__"]);
  });

  it("round-trips any value the JSON codec carries, to what the JSON codec gives back", () => {
    fc.assert(
      fc.property(value, (v) => {
        const back = msgpackCodec.decode(msgpackCodec.encode(v));
        // What the JSON codec gives back (which is `v`, -0 included: tcp-parts.test.ts shows the JSON codec's).
        same(back, jsonCodec.decode(jsonCodec.encode(v)));
        if (v !== null && typeof v === "object" && !(v instanceof Map) && !(v instanceof Set) && !(v instanceof Date)) {
          expect(Object.getPrototypeOf(back)).toBe(Array.isArray(v) ? Array.prototype : Object.prototype);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("refuses what the JSON codec refuses, in the same words, and writes nothing", () => {
    class Point {
      x = 1;
    }
    const refused = [{ f: () => 1 }, { b: new Uint8Array(2) }, [new Point()], { n: 10n }, { s: Symbol("s") }, new Map([["k", Buffer.from("x")]]), new Set([new Point()]), { e: new Error("x") }];
    for (const v of refused) {
      const words = (codec: Codec): string => {
        try {
          codec.encode(v);
        } catch (e) {
          expect(e).toBeInstanceOf(UnsupportedValueError);
          return (e as Error).message;
        }
        throw new Error(`the ${codec.name} codec took ${String(v)}`);
      };
      expect(words(msgpackCodec)).toBe(words(jsonCodec).replace("the JSON codec", "the msgpack codec"));
    }
    expect(() => msgpackCodec.encode([new Point()])).toThrow(/the msgpack codec carries plain objects, arrays, Maps, Sets and Dates, not a Point; send plain data/);
  });

  it("carries a value nested deeper than its walk goes, as the JSON codec does; a cycle is refused with an error of the family", () => {
    let deep: unknown = "bottom";
    for (let i = 0; i < 300; i++) deep = { d: deep };
    expect(msgpackCodec.decode(msgpackCodec.encode(deep))).toEqual(deep);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => msgpackCodec.encode(cyclic)).toThrow(UnsupportedValueError);
  });

  it("every frame decodes alone: a fresh decoder reads the 500th frame of a stream of varied shapes, and frames in any order", () => {
    // Frames of repeated shapes are where a codec might be tempted to refer to an earlier frame's (msgpackr's records).
    const codec = makeMsgpackCodec();
    const frames: { v: unknown; bytes: Buffer }[] = [];
    for (let i = 0; i < 500; i++) {
      const shape: Record<string, unknown> = { kind: "data", seq: i + 1 };
      for (let j = 0; j < (i % 90) + 1; j++) shape[`k${(i + j) % 70}`] = { [`s${j % 7}`]: j, t: [{ q: i }], m: new Map([[j, { r: j }]]) };
      frames.push({ v: shape, bytes: Buffer.from(codec.encode(shape)) });
    }
    for (const i of [499, 0, 250, 7, 498]) expect(makeMsgpackCodec().decode((frames[i] as { bytes: Buffer }).bytes)).toEqual((frames[i] as { v: unknown }).v);
    const reader = makeMsgpackCodec();
    for (const f of [...frames].reverse()) expect(reader.decode(f.bytes)).toEqual(f.v);
  });

  it("a frame spilled to disk by an outbox reads back alone, by a decoder that saw nothing before it", () => {
    const dir = mkdtempSync(join(tmpdir(), "codec-spill-"));
    try {
      const budget = new SpillBudget({ memoryBytes: 0, diskQuotaBytes: 1 << 20 }, dir, "a");
      const q = new SpillQueue(budget, "b");
      const wire = wireCodec("msgpack");
      const msgs = [1, 2, 3].map((n) => ({ kind: "data", seq: n, lc: n, env: { kind: "app", id: `a.${n}`, from: "a", to: "b", epoch: 0, body: { n, m: new Map([["n", n]]) }, link: 1 } }));
      for (const m of msgs) expect(q.append({ seq: m.seq, frame: encodeFrame(wire.encode(m)) })).toBe(true);
      const back = msgs.map(() => makeMsgpackCodec().decode((q.shift() as { frame: Buffer }).frame.subarray(4)));
      expect(back).toEqual(msgs);
      budget.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the msgpack codec on hostile bytes", () => {
  const refusedWith = (bytes: Buffer): string => {
    try {
      msgpackCodec.decode(bytes);
      return "decoded";
    } catch (e) {
      expect(e).toBeInstanceOf(CodecFormatError);
      return (e as Error).message;
    }
  };

  it("refuses what msgpackr reads but this codec never writes (binary, 64-bit integers, errors, regexps, typed arrays, cycles, bad tags, a reserved byte)", () => {
    const other = new Packr({ structuredClone: true, useBigInt64: true } as ConstructorParameters<typeof Packr>[0]);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const cases: [Buffer, RegExp][] = [
      [Buffer.from(other.pack({ b: Buffer.from("xy") })), /holds a (Buffer|Uint8Array)/],
      [Buffer.from(other.pack({ n: 2n ** 62n })), /holds a bigint/],
      [Buffer.from(other.pack({ e: new Error("x") })), /holds a Error/],
      [Buffer.from(other.pack({ r: /x/ })), /holds a RegExp/],
      [Buffer.from(other.pack({ t: new Float32Array(2) })), /holds a Float32Array/],
      [Buffer.from(other.pack(cyclic)), /not MessagePack this codec writes/],
      [Buffer.from(other.pack({ x: { $ls: "bogus", v: 1 } })), /a tagged value "bogus" that this codec never writes/],
      [Buffer.from(other.pack({ $ls: "map", v: [1] })), /a tagged map holds an entry that is not a \[key, value\] pair/],
      [Buffer.from(other.pack({ $ls: "object", v: [1] })), /a tagged value "object" that this codec never writes/],
      [Buffer.from([0xc1]), /this codec never writes/],
      [Buffer.from([0x92, 0x01]), /ends in the middle of a value/],
      [Buffer.from([0x01, 0x02]), /not MessagePack this codec writes/],
      [Buffer.from([]), /ends in the middle of a value|not MessagePack/],
      [Buffer.from("{not json"), /the JSON codec cannot decode this frame: it is not JSON/],
    ];
    for (const [bytes, why] of cases) expect(refusedWith(bytes)).toMatch(why);
  });

  it("decodes or refuses with CodecFormatError whatever bytes arrive, own frames mutated included (fuzzed)", () => {
    const own = fc.tuple(value, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })).map(([v, flips]) => {
      const b = Buffer.from(msgpackCodec.encode({ kind: "data", v }));
      for (const [at, byte] of flips) if (b.length > 0) b[at % b.length] = byte;
      return b;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), own), (bytes) => {
        try {
          msgpackCodec.decode(bytes);
        } catch (e) {
          if (!(e instanceof CodecFormatError)) throw e;
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe("the JSON codec fed msgpack", () => {
  it("says the other side speaks msgpack", () => {
    const frame = wireCodec("msgpack").encode({ kind: "data", seq: 1, lc: 0, env: {} });
    expect(() => jsonCodec.decode(Buffer.from(frame))).toThrow(/it is MessagePack, not JSON: the other side speaks the msgpack codec/);
  });

  it("the msgpack wire codec writes the handshake frames in JSON, everything else in msgpack", () => {
    const wire = wireCodec("msgpack");
    for (const kind of ["hello", "refused", "heartbeat"]) expect(wire.encode({ kind, from: "a" }).toString("utf8")).toMatch(/^\{"kind":/);
    expect(jsonCodec.decode(wire.encode({ kind: "hello", from: "a", codec: "msgpack" }))).toEqual({ kind: "hello", from: "a", codec: "msgpack" });
    expect(wire.encode({ kind: "ack", seq: 1 })[0]).not.toBe(0x7b);
    const d = new FrameDecoder();
    expect(d.push(encodeFrame(wire.encode({ kind: "ack", seq: 1 }))).map((f) => wire.decode(f))).toEqual([{ kind: "ack", seq: 1 }]);
  });
});
