import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonCodec } from "./codec.js";
import { encodeFrame, FrameDecoder } from "./frame.js";
import { LamportClock } from "./lamport-clock.js";
import { WIRE_FORMAT, type WireMessage } from "./protocol.js";
import { TcpNetwork } from "./tcp-network.js";
import { freePort } from "../../deploy/free-port.js";

/** Connect, write hand-made frames, and collect what comes back until the other side closes (or `untilKind` arrives). */
async function converse(port: number, frames: readonly unknown[], untilKind?: string): Promise<{ got: WireMessage[]; closed: boolean }> {
  const socket = net.connect({ host: "127.0.0.1", port });
  const decoder = new FrameDecoder();
  const got: WireMessage[] = [];
  const closed = await new Promise<boolean>((resolve) => {
    socket.on("connect", () => {
      for (const f of frames) socket.write(encodeFrame(jsonCodec.encode(f)));
    });
    socket.on("data", (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) got.push(jsonCodec.decode(f) as WireMessage);
      if (untilKind !== undefined && got.some((m) => m.kind === untilKind)) resolve(false);
    });
    socket.on("close", () => resolve(true));
    socket.on("error", () => undefined);
    setTimeout(() => resolve(false), 5000);
  });
  socket.destroy();
  return { got, closed };
}

/** A hand-made peer: listens, answers each connection's first frame with `answer`, and keeps what it read. */
async function fakePeer(answer: readonly unknown[]): Promise<{ port: number; read: WireMessage[]; close(): Promise<void> }> {
  const read: WireMessage[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const decoder = new FrameDecoder();
    let answered = false;
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) read.push(jsonCodec.decode(f) as WireMessage);
      if (!answered) for (const m of answer) socket.write(encodeFrame(jsonCodec.encode(m)));
      answered = true;
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    read,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function until(what: () => boolean, ms = 5000): Promise<void> {
  for (const t0 = performance.now(); !what() && performance.now() - t0 < ms; ) await new Promise((r) => setTimeout(r, 10));
}

describe("the wire format in the hello", () => {
  let port = 0;
  let network: TcpNetwork;
  const log: string[] = [];
  beforeAll(async () => {
    port = await freePort();
    network = new TcpNetwork({
      self: "b",
      address: `127.0.0.1:${port}`,
      codec: jsonCodec,
      clock: new LamportClock(),
      onEnvelope: () => undefined,
      onTimer: () => undefined,
      onCommand: (session, id) => session.reply(id, "still here"),
      log: (line) => log.push(line),
    });
    await network.start();
    network.addPeer("a", "127.0.0.1:1"); // "a" dials "b" (the larger id accepts): the refused peer is a neighbour
  });
  afterAll(async () => {
    await network.close();
  });

  it("is carried by every hello: WIRE_FORMAT is 2", () => {
    expect(WIRE_FORMAT).toBe(2);
  });

  it("a neighbour speaking a newer format is refused with the reason, logged, and the connection closed", async () => {
    const { got, closed } = await converse(port, [{ kind: "hello", from: "a", role: "node", recv: 0, chan: "a-1", format: 3 }]);
    expect(closed).toBe(true);
    expect(got).toHaveLength(1);
    const refusal = got[0] as Extract<WireMessage, { kind: "refused" }>;
    expect(refusal).toMatchObject({ kind: "refused", from: "b", format: 2 });
    const expected = 'node "a" speaks liveswap wire format 3, this process (node "b") reads 2: upgrade liveswap on node "b" first';
    expect(refusal.reason).toBe(expected);
    expect(log).toContain(`refused a connection: ${expected}`);
    expect(network.peers()).toEqual([expect.objectContaining({ id: "a", connected: false, reconnects: 0 })]);
  });

  it("an older liveswap (no format in its hello), node or control session, is refused, naming the side to upgrade", async () => {
    const peer = await converse(port, [{ kind: "hello", from: "a", role: "node", recv: 0, chan: "a-1" }]);
    expect(peer.closed).toBe(true);
    expect(peer.got.map((m) => m.kind)).toEqual(["refused"]);
    expect(log.at(-1)).toMatch(/node "a" speaks an older liveswap wire format \(its hello names none\), this process \(node "b"\) reads 2: upgrade liveswap on node "a" first/);
    // An old control session sends a command straight after its hello: nothing of it runs.
    const ctl = await converse(port, [{ kind: "hello", from: "old-ctl", role: "control", recv: 0 }, { kind: "cmd", id: 1, cmd: { kind: "status" } }]);
    expect(ctl.closed).toBe(true);
    expect(ctl.got.map((m) => m.kind)).toEqual(["refused"]);
    expect(log.at(-1)).toMatch(/the control session "old-ctl" speaks an older liveswap wire format .* upgrade liveswap on the control session "old-ctl" first/);
  });

  it("logs a refusal once however often the peer retries; the process goes on serving sessions of its format", async () => {
    const before = log.length;
    for (let i = 0; i < 3; i++) await converse(port, [{ kind: "hello", from: "a", role: "node", recv: 0, chan: "a-1", format: 3 }]);
    expect(log.slice(before)).toEqual([]);
    const ok = await converse(port, [{ kind: "hello", from: "ctl", role: "control", recv: 0, format: WIRE_FORMAT }, { kind: "cmd", id: 7, cmd: { kind: "status" } }], "reply");
    expect(ok.got).toEqual([
      { kind: "hello", from: "b", role: "node", recv: 0, format: WIRE_FORMAT },
      { kind: "reply", id: 7, ok: true, value: "still here" },
    ]);
  });
});

describe("a node dialling a neighbour of another format", () => {
  const dialler = async (log: string[]): Promise<TcpNetwork> => {
    const n = new TcpNetwork({
      self: "a",
      address: `127.0.0.1:${await freePort()}`,
      codec: jsonCodec,
      clock: new LamportClock(),
      onEnvelope: () => undefined,
      onTimer: () => undefined,
      onCommand: () => undefined,
      log: (line) => log.push(line),
    });
    await n.start();
    return n;
  };

  it("logs the neighbour's refusal in its own terms (which side to upgrade), once, and keeps retrying", async () => {
    const peer = await fakePeer([{ kind: "refused", from: "b", format: 3, reason: "(b's own words)" }]);
    const log: string[] = [];
    const a = await dialler(log);
    a.addPeer("b", `127.0.0.1:${peer.port}`);
    await until(() => log.length > 0);
    expect(peer.read[0]).toMatchObject({ kind: "hello", from: "a", role: "node", format: WIRE_FORMAT });
    expect(log).toEqual(['"b" refused our connection: node "b" speaks liveswap wire format 3, this process (node "a") reads 2: upgrade liveswap on node "a" first']);
    await until(() => peer.read.filter((m) => m.kind === "hello").length >= 3);
    expect(peer.read.filter((m) => m.kind === "hello").length).toBeGreaterThanOrEqual(3);
    expect(log).toHaveLength(1);
    expect(a.peers()[0]).toMatchObject({ id: "b", connected: false });
    await a.close();
    await peer.close();
  });

  it("refuses an older neighbour's answer (no format) and tells it why", async () => {
    const peer = await fakePeer([{ kind: "hello", from: "b", role: "node", recv: 0, chan: "b-1" }]);
    const log: string[] = [];
    const a = await dialler(log);
    a.addPeer("b", `127.0.0.1:${peer.port}`);
    await until(() => peer.read.some((m) => m.kind === "refused"));
    expect(peer.read.find((m) => m.kind === "refused")).toMatchObject({ from: "a", format: WIRE_FORMAT });
    expect(log[0]).toMatch(/^refused a connection: node "b" speaks an older liveswap wire format \(its hello names none\), this process \(node "a"\) reads 2: upgrade liveswap on node "b" first/);
    expect(a.peers()[0]).toMatchObject({ id: "b", connected: false, reconnects: 0 });
    await a.close();
    await peer.close();
  });
});
