import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { StoreCorruptError, StoreFormatError } from "../../core/errors.js";
import { decodeRecord, encodeRecord, RECORD_FORMAT_VERSION } from "./record-codec.js";

describe("record codec", () => {
  it("round-trips Map, Set, undefined, Date, bytes and shared references", () => {
    const shared = { n: 1 };
    const value = {
      map: new Map<unknown, unknown>([
        ["a", { gone: undefined }],
        [2, new Set(["x", 3])],
      ]),
      list: [undefined, null, shared, shared],
      at: new Date(1234),
      bytes: new Uint8Array([1, 2, 3]),
      gone: undefined,
    };
    const back = decodeRecord(encodeRecord(value), "f", "v") as typeof value;
    expect(back).toEqual(value);
    expect(back.map).toBeInstanceOf(Map);
    expect(back.map.get(2)).toBeInstanceOf(Set);
    expect("gone" in back).toBe(true);
    expect(back.list[2]).toBe(back.list[3]);
  });

  it("decodes each record alone (no structure table shared between values)", () => {
    const many = Array.from({ length: 20 }, (_, i) => encodeRecord({ i, same: { shape: i } }));
    // Newest first, so that no record can lean on one decoded before it.
    for (let i = 19; i >= 0; i--) expect(decodeRecord(many[i] as Buffer, "f", "v")).toEqual({ i, same: { shape: i } });
  });

  it("refuses an unknown format version, naming the file, the version found and the readable ones", () => {
    const future = new Packr({ structuredClone: true }).pack([RECORD_FORMAT_VERSION + 98, { x: 1 }]);
    const e = captured(() => decodeRecord(future, "/data/a/store.sqlite", "log entry 3"));
    expect(e).toBeInstanceOf(StoreFormatError);
    expect((e as StoreFormatError).found).toBe("99");
    expect(e.message).toContain("/data/a/store.sqlite");
    expect(e.message).toContain("log entry 3 has format version 99");
    expect(e.message).toContain("reads version 1");
    expect(e.message).toMatch(/upgrade liveswap/);
  });

  it("refuses bytes that are no record as corrupt, naming the file", () => {
    expect(captured(() => decodeRecord(Buffer.from([0xc1]), "/d/s", "the snapshot"))).toBeInstanceOf(StoreCorruptError);
    const notEnvelope = new Packr({ structuredClone: true }).pack({ x: 1 });
    const e = captured(() => decodeRecord(notEnvelope, "/d/s", "the snapshot"));
    expect(e).toBeInstanceOf(StoreCorruptError);
    expect(e.message).toContain('"/d/s"');
    const text = captured(() => decodeRecord(new Packr({ structuredClone: true }).pack(["1", 2]), "/d/s", "x"));
    expect(text).toBeInstanceOf(StoreFormatError);
    expect(text.message).toContain('format version "1"');
  });
});

function captured(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a throw");
}
