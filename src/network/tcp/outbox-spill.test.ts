import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import type { AppEnvelope } from "../../core/envelope.js";
import { messageId } from "../../core/ids.js";
import { jsonCodec } from "./codec.js";
import { Connection } from "./connection.js";
import { FrameDecoder } from "./frame.js";
import { BUSY_FRACTION, SpillBudget, SpillQueue } from "./outbox-spill.js";
import { PeerChannel, SOCKET_BUFFER_BYTES } from "./peer-channel.js";
import type { WireMessage } from "./protocol.js";

const dirs: string[] = [];
function spillDir(): string {
  const d = mkdtempSync(join(tmpdir(), "liveswap-spill-test-"));
  dirs.push(d);
  return join(d, "spill");
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const env = (n: number, pad = 0): AppEnvelope => ({ kind: "app", id: messageId(`a.${n}`), from: "a", to: "b", epoch: 0, body: { n, pad: "x".repeat(pad) }, link: 1 });

/** A connection whose socket says it buffers `buffered` bytes (the test sets it) and records what was written. */
function fakeConn(): { conn: Connection; socket: PassThrough & { buffered: number }; sent: () => WireMessage[]; data: () => number[] } {
  const socket = Object.assign(new PassThrough(), { buffered: 0 });
  Object.defineProperty(socket, "writableLength", { get: () => socket.buffered });
  const written: Buffer[] = [];
  socket.write = ((chunk: Buffer) => {
    written.push(chunk);
    return true;
  }) as typeof socket.write;
  const conn = new Connection(socket, jsonCodec, () => undefined, () => undefined);
  const sent = (): WireMessage[] => new FrameDecoder().push(Buffer.concat(written)).map((f) => jsonCodec.decode(f) as WireMessage);
  return { conn, socket, sent, data: () => sent().flatMap((m) => (m.kind === "data" ? [m.seq] : [])) };
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe("the spill queue", () => {
  it("gives frames back in order across segment files, deletes what was read, and keeps to its quota", () => {
    const dir = spillDir();
    const budget = new SpillBudget({ memoryBytes: 0, diskQuotaBytes: 20 * 1024 * 1024 }, dir, "a");
    const q = new SpillQueue(budget, "b");
    const frame = (i: number): Buffer => Buffer.alloc(1000 + (i % 7), i % 251);
    // 12,000 frames of ~1 KB: segments of 1/16 of the quota (1.25 MiB), 10 of them.
    for (let i = 1; i <= 12_000; i++) expect(q.append({ seq: i, frame: frame(i) })).toBe(true);
    expect(budget.segmentBytes).toBe(20 * 1024 * 1024 / 16);
    expect(readdirSync(dir).length).toBe(10);
    expect(budget.usedBytes).toBe(budget.spilledTo("b"));
    const full = budget.usedBytes;
    expect(q.firstSeq()).toBe(1);
    for (let i = 1; i <= 9_000; i++) {
      const f = q.shift();
      expect(f?.seq).toBe(i);
      if (i % 997 === 0) expect(f?.frame.equals(frame(i))).toBe(true);
    }
    // The segments read to their end are deleted, their bytes back in the quota.
    expect(readdirSync(dir).length).toBe(4);
    expect(budget.usedBytes).toBeLessThan(full * 0.4);
    expect(q.peekAll().map((f) => f.seq)).toEqual(range(9_001, 12_000));
    // Appends after reads keep the order.
    q.append({ seq: 12_001, frame: frame(1) });
    while (q.length > 1) q.shift();
    expect(q.shift()?.seq).toBe(12_001);
    expect(budget.usedBytes).toBe(0);
    // The quota: a frame that does not fit is refused, nothing written.
    const small = new SpillBudget({ memoryBytes: 0, diskQuotaBytes: 5_000 }, spillDir(), "a");
    const q2 = new SpillQueue(small, "b");
    expect([1, 2, 3, 4, 5].map((i) => q2.append({ seq: i, frame: Buffer.alloc(1000) }))).toEqual([true, true, true, true, false]);
    expect(small.busy()).toEqual({ waitingOn: "b", spilledBytes: 4 * 1012, quotaBytes: 5_000 });
    q2.clear();
    expect(small.busy()).toBeUndefined();
    budget.close();
    small.close();
    expect(existsSync(dir)).toBe(false);
  });

  it("a spill area left by a previous process is emptied at start", () => {
    const dir = spillDir();
    const old = new SpillQueue(new SpillBudget(undefined, dir, "a"), "b");
    old.append({ seq: 1, frame: Buffer.alloc(10) });
    expect(readdirSync(dir).length).toBe(1);
    new SpillBudget(undefined, dir, "a");
    expect(existsSync(dir)).toBe(false);
  });
});

describe("a peer channel with a bounded outbox", () => {
  it("holds data back while the socket is full (acks still leave at once); spills past its memory bound and reads back in order as acks come", () => {
    const budget = new SpillBudget({ memoryBytes: 4_000, diskQuotaBytes: 10 * 1024 * 1024 }, spillDir(), "a");
    const ch = new PeerChannel("b", jsonCodec, undefined, budget);
    const t = fakeConn();
    ch.attach(t.conn, { recv: 0, chan: "b-1" });
    ch.resend();
    t.socket.buffered = SOCKET_BUFFER_BYTES; // the peer stopped reading: the socket's buffer is full
    for (let i = 1; i <= 200; i++) ch.send(i, env(i, 100));
    expect(t.data()).toEqual([]);
    expect(ch.pending).toBe(200);
    expect(ch.memoryBytes).toBeLessThanOrEqual(4_000 + 300);
    expect(ch.spilledBytes).toBeGreaterThan(150 * 200);
    // The control lane: acknowledgements of what the peer sent us leave at once, ahead of the waiting data.
    for (let s = 1; s <= 256; s++) ch.accept(s, t.conn);
    expect(t.sent().map((m) => m.kind)).toEqual(["ack"]);
    // The socket drains: what is in memory goes out; acks bring the rest back from disk, in order.
    t.socket.buffered = 0;
    t.socket.emit("drain");
    const first = t.data();
    expect(first).toEqual(range(1, first.length));
    let acked = 0;
    for (let round = 0; round < 100 && ch.pending > 0; round++) {
      acked = t.data().at(-1) ?? 0;
      ch.acked(acked);
    }
    expect(t.data()).toEqual(range(1, 200));
    expect(ch.pending).toBe(0);
    expect(budget.usedBytes).toBe(0);
    ch.close();
    budget.close();
  });

  it("a reconnect resends from the peer's position, spilled frames included, exactly once each", () => {
    const budget = new SpillBudget({ memoryBytes: 3_000, diskQuotaBytes: 10 * 1024 * 1024 }, spillDir(), "a");
    const ch = new PeerChannel("b", jsonCodec, undefined, budget);
    const one = fakeConn();
    ch.attach(one.conn, { recv: 0, chan: "b-1" });
    ch.resend();
    for (let i = 1; i <= 100; i++) ch.send(i, env(i, 100));
    const wrote = one.data();
    expect(wrote.length).toBeLessThan(100); // the rest is on disk
    // The peer delivered 7 before the socket dropped; the new connection's hello says so.
    const two = fakeConn();
    expect(ch.attach(two.conn, { recv: 7, chan: "b-1", seen: ch.id })).toEqual([]);
    ch.resend();
    for (let round = 0; round < 100 && ch.pending > 0; round++) ch.acked(two.data().at(-1) ?? 0);
    expect(two.data()).toEqual(range(8, 100));
    ch.close();
    budget.close();
  });

  it("a durable node restarted with a long outbox: it spills again, and a peer already past what fits in memory gets the rest", () => {
    const budget = new SpillBudget({ memoryBytes: 2_000, diskQuotaBytes: 10 * 1024 * 1024 }, spillDir(), "a");
    const outbox = range(1, 100).map((i) => ({ ...env(i, 100), seq: i }));
    const ch = new PeerChannel("b", jsonCodec, { instance: "a-1", delivered: 0, unacked: outbox, lc: 1 }, budget);
    expect(budget.usedBytes).toBeGreaterThan(0);
    // b applied up to 60 before a's crash: further than a's memory holds.
    const t = fakeConn();
    ch.attach(t.conn, { recv: 60, chan: "b-1", seen: "a-1" });
    ch.resend();
    // The resend itself brings frames back from disk (no ack will come before b gets something).
    expect(t.data()[0]).toBe(61);
    for (let round = 0; round < 100 && ch.pending > 0; round++) ch.acked(t.data().at(-1) ?? 0);
    expect(t.data()).toEqual(range(61, 100));
    ch.close();
    budget.close();
  });

  it("a restarted peer: everything unacknowledged, spilled frames included, is reported lost in order, and the files go", () => {
    const dir = spillDir();
    const budget = new SpillBudget({ memoryBytes: 2_000, diskQuotaBytes: 10 * 1024 * 1024 }, dir, "a");
    const ch = new PeerChannel("b", jsonCodec, undefined, budget);
    ch.attach(fakeConn().conn, { recv: 0, chan: "b-1" });
    ch.resend();
    for (let i = 1; i <= 50; i++) ch.send(i, env(i, 100));
    ch.acked(3);
    expect(budget.usedBytes).toBeGreaterThan(0);
    const lost = ch.attach(fakeConn().conn, { recv: 0, chan: "b-2" });
    expect(lost.map((e) => (e.kind === "app" ? e.id : ""))).toEqual(range(4, 50).map((i) => `a.${i}`));
    expect(budget.usedBytes).toBe(0);
    expect(ch.pending).toBe(0);
    ch.close();
    budget.close();
    expect(existsSync(dir)).toBe(false);
  });

  it("past the disk quota frames stay in memory (never lost), the node is busy, and it is not once the peer caught up", () => {
    const budget = new SpillBudget({ memoryBytes: 2_000, diskQuotaBytes: 6_000 }, spillDir(), "a");
    const ch = new PeerChannel("b", jsonCodec, undefined, budget);
    const t = fakeConn();
    ch.attach(t.conn, { recv: 0, chan: "b-1" });
    ch.resend();
    t.socket.buffered = SOCKET_BUFFER_BYTES;
    for (let i = 1; i <= 10; i++) ch.send(i, env(i, 100));
    expect(budget.busy()).toBeUndefined();
    for (let i = 11; i <= 80; i++) ch.send(i, env(i, 100));
    // The spill is at its quota (well past BUSY_FRACTION of it); the rest waits in memory.
    expect(budget.usedBytes).toBeGreaterThan(BUSY_FRACTION * 6_000);
    expect(budget.usedBytes).toBeLessThanOrEqual(6_000);
    expect(budget.busy()?.waitingOn).toBe("b");
    expect(ch.pending).toBe(80);
    t.socket.buffered = 0;
    t.socket.emit("drain");
    for (let round = 0; round < 200 && ch.pending > 0; round++) ch.acked(t.data().at(-1) ?? 0);
    expect(t.data()).toEqual(range(1, 80));
    expect(budget.busy()).toBeUndefined();
    // And then: the channel goes on, in memory again.
    ch.send(81, env(81));
    expect(t.data().at(-1)).toBe(81);
    ch.close();
    budget.close();
  });
});
