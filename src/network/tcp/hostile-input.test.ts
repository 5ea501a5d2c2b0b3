import { Duplex } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jsonCodec } from "./codec.js";
import { Connection } from "./connection.js";
import { encodeFrame, FrameDecoder, FrameTooLargeError } from "./frame.js";
import type { WireMessage } from "./protocol.js";
import { BadFrameError, checkWireMessage } from "./wire-check.js";

/**
 * Hostile input on the wire, fuzzed: whatever bytes arrive, the decoder yields frames or refuses with
 * FrameTooLargeError, the codec decodes or refuses with an error of its own (never a TypeError from deep inside),
 * the checker passes a message or says what is wrong with it, and a connection fed anything closes with a reason
 * instead of throwing out of its socket handler (which would kill the process).
 */

/** Split `bytes` at the given cut points (each taken modulo the length), as TCP may deliver them. */
function split(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of at) {
    out.push(bytes.subarray(from, c));
    from = c;
  }
  out.push(bytes.subarray(from));
  return out;
}

const id = fc.string({ minLength: 1, maxLength: 12 });
const appEnv = fc.record({
  kind: fc.constant("app" as const),
  id,
  from: fc.constant("a"),
  to: fc.constant("b"),
  epoch: fc.nat(5),
  body: fc.jsonValue(),
  link: fc.nat(9),
  seq: fc.integer({ min: 1, max: 1e6 }),
});
const controlEnv = fc.record({
  kind: fc.constant("control" as const),
  from: fc.constant("a"),
  to: fc.constant("b"),
  update: fc.nat(9),
  msg: fc.record({ kind: fc.constantFrom("marker", "prepare", "m-prime") }),
  link: fc.nat(9),
  plane: fc.boolean(),
});
/** Every kind of message a well peer sends, with arbitrary contents where the protocol allows any. */
const wellFormed: fc.Arbitrary<WireMessage> = fc.oneof(
  fc.record({ kind: fc.constant("hello" as const), from: id, role: fc.constantFrom("node" as const, "control" as const), recv: fc.nat(), chan: id, format: fc.constant(1) }),
  fc.record({ kind: fc.constant("refused" as const), from: id, format: fc.nat(9), reason: fc.string() }),
  fc.record({ kind: fc.constant("data" as const), seq: fc.integer({ min: 1, max: 1e9 }), lc: fc.nat(), env: appEnv }),
  fc.record({ kind: fc.constant("data" as const), seq: fc.integer({ min: 1, max: 1e9 }), lc: fc.nat(), env: controlEnv }),
  fc.record({ kind: fc.constant("ack" as const), seq: fc.nat() }),
  fc.record({ kind: fc.constant("plane-ack" as const), link: fc.nat(), seq: fc.nat() }),
  fc.record({ kind: fc.constant("cmd" as const), id: fc.nat(), cmd: fc.record({ kind: fc.constantFrom("status" as const, "trace" as const) }) }),
  fc.record({ kind: fc.constant("reply" as const), id: fc.nat(), ok: fc.constant(true as const), value: fc.jsonValue() }),
  fc.record({ kind: fc.constant("reply" as const), id: fc.nat(), ok: fc.constant(false as const), error: fc.string() }),
) as fc.Arbitrary<WireMessage>;

/** Decode and check as a connection does; returns the message, or the error's class name. */
function take(bytes: Buffer): WireMessage | string {
  try {
    return checkWireMessage(jsonCodec.decode(bytes));
  } catch (e) {
    return (e as Error).constructor.name;
  }
}

const REFUSALS = ["BadFrameError", "CodecFormatError"];

describe("the frame decoder, fuzzed", () => {
  it("gives back exactly the frames sent, however the stream is cut", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (payloads, cuts) => {
        const d = new FrameDecoder();
        const stream = Buffer.concat(payloads.map((p) => encodeFrame(Buffer.from(p))));
        const got = split(stream, cuts).flatMap((c) => d.push(c));
        expect(got.map((b) => [...b])).toEqual(payloads.map((p) => [...p]));
        expect(d.partial).toBeUndefined();
      }),
    );
  });

  it("on garbage: frames or FrameTooLargeError, never another error, and never more buffered than one frame allows", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(), { maxLength: 20 }), fc.integer({ min: 0, max: 1024 }), (bytes, cuts, limit) => {
        const d = new FrameDecoder();
        d.maxFrameBytes = limit;
        let taken = 0;
        try {
          for (const c of split(Buffer.from(bytes), cuts)) for (const f of d.push(c)) taken += 4 + f.length;
        } catch (e) {
          expect(e).toBeInstanceOf(FrameTooLargeError);
          return;
        }
        // What is not taken is one incomplete frame within the limit.
        const partial = d.partial;
        expect(taken + (partial?.have ?? 0)).toBe(bytes.length);
        if (partial !== undefined) expect(partial.need).toBeLessThanOrEqual(limit + 4);
      }),
    );
  });

  it("refuses a length prefix over the limit at once, before the frame's bytes arrive", () => {
    const d = new FrameDecoder();
    d.maxFrameBytes = 65536;
    expect(() => d.push(Buffer.from([0x7f, 0xff, 0xff, 0xff]))).toThrow(/a frame of 2147483647 bytes exceeds the 65536-byte limit/);
    const http = new FrameDecoder();
    http.maxFrameBytes = 65536;
    expect(() => http.push(Buffer.from("GET / HTTP/1.1\r\n\r\n"))).toThrow(FrameTooLargeError);
  });
});

describe("the codec and the frame checker, fuzzed", () => {
  it("take every well-formed message through encode and decode unchanged", () => {
    fc.assert(
      fc.property(wellFormed, (m) => {
        expect(take(jsonCodec.encode(m))).toEqual(jsonCodec.decode(jsonCodec.encode(m)));
        expect(typeof take(jsonCodec.encode(m))).toBe("object");
      }),
    );
  });

  it("refuse arbitrary bytes with BadFrameError or CodecFormatError only", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const r = take(Buffer.from(bytes));
        if (typeof r === "string") expect(REFUSALS).toContain(r);
      }),
    );
  });

  it("refuse arbitrary JSON (tagged values included) cleanly", () => {
    const tagged = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: "small" }, fc.jsonValue({ maxDepth: 2 }), tie("tag"), fc.array(tie("value"), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 4 }), tie("value"), { maxKeys: 3 })),
      tag: fc.record({ $ls: fc.constantFrom("map", "set", "undefined", "number", "object", "date", "bogus"), v: tie("value") }),
    })).value;
    fc.assert(
      fc.property(tagged, (v) => {
        const r = take(Buffer.from(JSON.stringify(v) ?? "null"));
        if (typeof r === "string") expect(REFUSALS).toContain(r);
      }),
    );
  });

  it("refuse a well-formed message with one field replaced by anything: BadFrameError, or a message still well-formed", () => {
    fc.assert(
      fc.property(wellFormed, fc.nat(), fc.jsonValue({ maxDepth: 2 }), (m, pick, junk) => {
        const keys = Object.keys(m);
        const key = keys[pick % keys.length] as string;
        const bent = { ...m, [key]: junk };
        const r = take(Buffer.from(JSON.stringify(bent)));
        if (typeof r === "string") expect(["BadFrameError", "CodecFormatError"]).toContain(r);
      }),
    );
  });

  it("names what is wrong", () => {
    expect(() => checkWireMessage({ kind: "gossip" })).toThrow(/a frame of kind the string "gossip", which this protocol does not have/);
    expect(() => checkWireMessage({ kind: "data", seq: -3, lc: 1, env: {} })).toThrow(/"data" frame: "seq" is the number -3, not a whole number of at least 1/);
    expect(() => checkWireMessage({ kind: "data", seq: 4, lc: 1, env: { kind: "app", from: "a", to: "b", link: 1, id: "m", epoch: "x", body: 1 } })).toThrow(/in "env": "epoch" is the string "x"/);
    expect(() => checkWireMessage({ kind: "hello", from: "a", role: "node", recv: 1.5 })).toThrow(BadFrameError);
    expect(() => checkWireMessage([1, 2])).toThrow(/the frame is an array, not an object/);
    expect(() => jsonCodec.decode(Buffer.from(`${"[".repeat(100_000)}${"]".repeat(100_000)}`))).toThrow(/the JSON codec cannot decode this frame: values nested too deep/);
    expect(() => jsonCodec.decode(Buffer.from("GET / HTTP/1.1"))).toThrow(/the JSON codec cannot decode this frame: it is not JSON/);
  });
});

/** A socket whose bytes the test pushes in; what the connection writes goes nowhere. */
function fakeSocket(): Duplex {
  return new Duplex({ read() {}, write(_c, _e, cb) { cb(); } });
}

describe("a connection fed hostile bytes", () => {
  it("closes with a reason and never throws out of its socket handler", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 64 }), wellFormed.map((m) => encodeFrame(jsonCodec.encode(m)))), { maxLength: 12 }), (chunks) => {
        const socket = fakeSocket();
        const got: WireMessage[] = [];
        const conn = new Connection(socket, jsonCodec, (m) => void got.push(m), () => undefined);
        conn.limitFrames(4096);
        for (const c of chunks) socket.emit("data", Buffer.from(c));
        // Either every chunk was taken as frames, or the connection closed on the first bad one, saying why.
        if (conn.closed) expect(conn.fault).toMatch(/./);
        for (const m of got) expect(typeof m.kind).toBe("string");
        conn.close();
      }),
    );
  });

  it("applies a limit raised by the hello to the frames after it in the same chunk (a resend right behind the hello)", () => {
    const socket = fakeSocket();
    const got: string[] = [];
    const conn = new Connection(socket, jsonCodec, (m, c) => {
      got.push(m.kind);
      if (m.kind === "hello") c.limitFrames(1 << 20);
    }, () => undefined);
    conn.limitFrames(1024);
    const hello = encodeFrame(jsonCodec.encode({ kind: "hello", from: "b", role: "node", recv: 0, chan: "x", format: 1 }));
    const big = encodeFrame(jsonCodec.encode({ kind: "reply", id: 1, ok: true, value: "x".repeat(100_000) }));
    socket.emit("data", Buffer.concat([hello, big]));
    expect(conn.fault).toBeUndefined();
    expect(got).toEqual(["hello", "reply"]);
  });

  it("says a frame was cut short when the socket closes in the middle of one", async () => {
    const socket = fakeSocket();
    let reason: string | undefined;
    const closed = new Promise<void>((r) => new Connection(socket, jsonCodec, () => undefined, (_c, why) => ((reason = why), r())));
    const frame = encodeFrame(jsonCodec.encode({ kind: "ack", seq: 1 }));
    socket.emit("data", frame.subarray(0, 7));
    socket.destroy();
    await closed;
    expect(reason).toBe(`closed in the middle of a frame (7 of its ${frame.length} bytes arrived)`);
  });
});
