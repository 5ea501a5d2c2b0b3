import { Duplex } from "node:stream";
import { describe, expect, it } from "vitest";
import { jsonCodec } from "./codec.js";
import { Connection } from "./connection.js";
import { FrameDecoder } from "./frame.js";

/** A socket that records each write it is handed: one entry per system call a real socket would make. */
function recordingSocket(): { socket: Duplex; writes: Buffer[][]; seqs: () => number[] } {
  const writes: Buffer[][] = [];
  const socket = new Duplex({
    read: () => undefined,
    write(chunk: Buffer, _enc, cb) {
      writes.push([chunk]);
      cb();
    },
    writev(chunks, cb) {
      writes.push(chunks.map((c) => c.chunk as Buffer));
      cb();
    },
  });
  const seqs = (): number[] => new FrameDecoder().push(Buffer.concat(writes.flat())).map((f) => (jsonCodec.decode(f) as { seq: number }).seq);
  return { socket, writes, seqs };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe("a connection's writes", () => {
  it("a turn's frames leave together in one write when the turn ends (none in the middle of the step), in order", async () => {
    const { socket, writes, seqs } = recordingSocket();
    const conn = new Connection(socket, jsonCodec, () => undefined, () => undefined);
    for (let seq = 1; seq <= 100; seq++) conn.send({ kind: "ack", seq });
    expect(writes).toEqual([]); // nothing while the step that sent them runs
    await tick();
    expect(writes.map((w) => w.length)).toEqual([100]);
    // And then: the next turn's lone frame leaves at that turn's end, on its own.
    conn.send({ kind: "ack", seq: 101 });
    expect(writes.map((w) => w.length)).toEqual([100]);
    await tick();
    expect(writes.map((w) => w.length)).toEqual([100, 1]);
    expect(seqs()).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
    conn.close();
  });

  it("a long turn hands its frames over as each 64 KiB fills, not all at its end", () => {
    const { socket, writes, seqs } = recordingSocket();
    const conn = new Connection(socket, jsonCodec, () => undefined, () => undefined);
    const pad = "x".repeat(1000);
    for (let seq = 1; seq <= 200; seq++) conn.send({ kind: "trace-chunk", id: 1, seq, text: pad });
    // Still inside the turn: 200 KiB written, three 64 KiB batches already out.
    expect(writes.length).toBeGreaterThanOrEqual(3);
    conn.close();
    expect(seqs()).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it("what was written before a close reaches the socket before it is destroyed", () => {
    const { socket, seqs } = recordingSocket();
    const conn = new Connection(socket, jsonCodec, () => undefined, () => undefined);
    for (let seq = 1; seq <= 5; seq++) conn.send({ kind: "ack", seq });
    conn.close();
    expect(socket.destroyed).toBe(true);
    expect(seqs()).toEqual([1, 2, 3, 4, 5]);
    expect(conn.send({ kind: "ack", seq: 6 })).toBe(false);
  });

  it("flow control sees the corked bytes: send says false past the high-water mark, drained() waits for the drain", async () => {
    const { socket, writes } = recordingSocket();
    const conn = new Connection(socket, jsonCodec, () => undefined, () => undefined);
    const pad = "y".repeat(4096);
    const answers: boolean[] = [];
    for (let seq = 1; seq <= 8; seq++) answers.push(conn.send({ kind: "trace-chunk", id: 1, seq, text: pad }));
    expect(answers.slice(0, 2)).toEqual([true, true]);
    expect(answers.at(-1)).toBe(false); // 32 KiB corked, over the socket's 16 KiB mark
    await conn.drained();
    expect(writes.flat().length).toBe(8);
    conn.close();
  });
});
