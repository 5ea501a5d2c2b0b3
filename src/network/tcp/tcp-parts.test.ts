import { PassThrough } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AppEnvelope } from "../../core/envelope.js";
import { messageId } from "../../core/ids.js";
import { jsonCodec } from "./codec.js";
import { Connection } from "./connection.js";
import { encodeFrame, FrameDecoder, FrameTooLargeError } from "./frame.js";
import { PeerChannel } from "./peer-channel.js";
import type { WireMessage } from "./protocol.js";

const env = (n: number): AppEnvelope => ({ kind: "app", id: messageId(`a.${n}`), from: "a", to: "b", epoch: 0, body: { n }, link: 1 });

/** A connection whose written frames the test reads back. */
function tap(): { conn: Connection; sent: () => WireMessage[] } {
  const socket = new PassThrough();
  const written: Buffer[] = [];
  socket.write = ((chunk: Buffer) => {
    written.push(chunk);
    return true;
  }) as typeof socket.write;
  const conn = new Connection(socket, jsonCodec, () => undefined, () => undefined);
  return { conn, sent: () => new FrameDecoder().push(Buffer.concat(written)).map((f) => jsonCodec.decode(f) as WireMessage) };
}

describe("frames", () => {
  it("reassemble frames split anywhere across chunks", () => {
    const payloads = ["a", "bb".repeat(1000), "", "ccc"].map((s) => Buffer.from(s));
    const bytes = Buffer.concat(payloads.map(encodeFrame));
    for (const cut of [1, 3, 5, 7, 1500, bytes.length - 1]) {
      const d = new FrameDecoder();
      const got = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
      expect(got.map((b) => b.toString())).toEqual(payloads.map((b) => b.toString()));
    }
  });

  it("refuse a length beyond the limit, naming it", () => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(0xffffffff, 0);
    expect(() => new FrameDecoder().push(head)).toThrow(FrameTooLargeError);
  });
});

describe("the JSON codec", () => {
  it("carries what structuredClone carries and plain JSON loses", () => {
    const value = { m: new Map<unknown, unknown>([["x", 1], [2, new Set(["y"])]]), u: undefined, list: [undefined, Number.NaN, Infinity, -Infinity, -0], $ls: "a user's own key" };
    expect(jsonCodec.decode(jsonCodec.encode(value))).toEqual(value);
  });

  it("round-trips any value it carries, plain or needing tags, nested or not (plain frames skip the tagging walks)", () => {
    const leaf = fc.oneof(fc.string(), fc.boolean(), fc.constant(null), fc.double(), fc.constant(undefined), fc.date({ noInvalidDate: true }));
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("array"), tie("object"), tie("map")),
      array: fc.array(tie("value"), { maxLength: 4 }),
      object: fc.dictionary(fc.oneof(fc.string(), fc.constantFrom("$ls", "__proto__", "constructor", "\\u0024ls")), tie("value"), { maxKeys: 4 }),
      map: fc.array(fc.tuple(fc.string(), tie("value")), { maxLength: 3 }).map((pairs) => new Map(pairs)),
    }));
    fc.assert(
      fc.property(value, (v) => {
        const back = jsonCodec.decode(jsonCodec.encode(v));
        expect(back).toEqual(v);
        // A plain object comes back plain (one of null prototype too), never with a prototype taken from a key.
        if (v !== null && typeof v === "object" && !(v instanceof Map) && !(v instanceof Date)) {
          expect(Object.getPrototypeOf(back)).toBe(Array.isArray(v) ? Array.prototype : Object.prototype);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("refuses what it cannot carry, naming it", () => {
    expect(() => jsonCodec.encode({ f: () => 1 })).toThrow(/cannot carry a function/);
    expect(() => jsonCodec.encode({ b: new Uint8Array(2) })).toThrow(/not a Uint8Array/);
    class Point {
      x = 1;
    }
    expect(() => jsonCodec.encode([new Point()])).toThrow(/not a Point/);
  });

  it("keeps Dates, and a key named __proto__ as a plain key", () => {
    const d = new Date(1_700_000_000_000);
    expect(jsonCodec.decode(jsonCodec.encode({ d }))).toEqual({ d });
    const evil = jsonCodec.decode(Buffer.from('{"__proto__":{"polluted":true}}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(evil)).toBe(Object.prototype);
    expect(Object.keys(evil)).toEqual(["__proto__"]);
  });
});

describe("a peer channel across reconnects", () => {
  it("resends exactly what the peer has not delivered, in order, and runs a duplicate once", () => {
    const ch = new PeerChannel("b", jsonCodec);
    const first = tap();
    ch.attach(first.conn, { recv: 0, chan: "b-1" });
    for (let i = 1; i <= 5; i++) ch.send(i, env(i));
    expect(first.sent().map((m) => (m.kind === "data" ? m.seq : -1))).toEqual([1, 2, 3, 4, 5]);
    ch.acked(1);
    expect(ch.pending).toBe(4);
    // The socket drops; the peer (the same instance) says in its hello it delivered up to 3.
    const second = tap();
    expect(ch.attach(second.conn, { recv: 3, chan: "b-1", seen: ch.id })).toEqual([]);
    ch.resend();
    expect(first.conn.closed).toBe(true);
    expect(second.sent().map((m) => (m.kind === "data" ? m.seq : -1))).toEqual([4, 5]);
    expect(ch.reconnects).toBe(1);

    const rx = new PeerChannel("a", jsonCodec);
    const c = tap().conn;
    expect([1, 2, 2, 3, 1].map((s) => rx.accept(s, c))).toEqual([true, true, false, true, false]);
    expect(rx.duplicates).toBe(2);
    expect(rx.received).toBe(3);
    // A gap is impossible on one stream: the channel closes the connection so the reconnect resends from 4.
    expect(rx.accept(5, c)).toBe(false);
    expect(c.closed).toBe(true);
    rx.close();
    ch.close();
  });

  it("a restarted peer starts the numbering again on both sides; what it never acknowledged is reported lost", () => {
    const ch = new PeerChannel("b", jsonCodec);
    ch.attach(tap().conn, { recv: 0, chan: "b-1" });
    for (let i = 1; i <= 3; i++) ch.send(i, env(i));
    const c = tap().conn;
    expect(ch.accept(1, c) && ch.accept(2, c)).toBe(true);
    ch.acked(1);
    // b's process restarted: a new channel instance that has seen nothing of ours.
    const again = tap();
    const lost = ch.attach(again.conn, { recv: 0, chan: "b-2" });
    expect(lost.map((e) => (e.kind === "app" ? e.id : e.msg.kind))).toEqual(["a.2", "a.3"]);
    expect(ch.received).toBe(0);
    expect(ch.accept(1, again.conn)).toBe(true); // the new instance's first frame runs, not taken for a duplicate
    ch.send(9, env(9));
    expect(again.sent().map((m) => (m.kind === "data" ? m.seq : -1))).toEqual([1]);
    ch.close();
  });

  it("a hello counting frames of this side's previous instance acknowledges nothing", () => {
    const ch = new PeerChannel("b", jsonCodec);
    ch.send(1, env(1));
    ch.send(2, env(2));
    ch.attach(tap().conn, { recv: 57, chan: "b-1", seen: "an-earlier-instance-of-a" });
    expect(ch.pending).toBe(2);
    ch.close();
  });

  it("a message the codec refuses takes no sequence number", () => {
    const ch = new PeerChannel("b", jsonCodec);
    const t = tap();
    ch.attach(t.conn, { recv: 0, chan: "b-1" });
    expect(() => ch.send(1, { ...env(1), body: { n: 1n } })).toThrow(/bigint/);
    ch.send(2, env(2));
    expect(t.sent().map((m) => (m.kind === "data" ? m.seq : -1))).toEqual([1]);
    ch.close();
  });
});
