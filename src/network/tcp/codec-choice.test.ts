import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { AppEnvelope, Envelope } from "../../core/envelope.js";
import { messageId } from "../../core/ids.js";
import { CodecMismatchError } from "./codec.js";
import { wireCodec, type CodecName } from "./codec-choice.js";
import { encodeFrame, FrameDecoder } from "./frame.js";
import { LamportClock } from "./lamport-clock.js";
import { WIRE_FORMAT, type WireMessage } from "./protocol.js";
import { TcpNetwork } from "./tcp-network.js";
import { freePort } from "../../deploy/free-port.js";

async function until(what: string, ms: number, cond: () => boolean): Promise<void> {
  for (const t0 = performance.now(); !cond(); ) {
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const open: TcpNetwork[] = [];
afterEach(async () => {
  for (const n of open.splice(0)) await n.close();
});

/** Node `self` at `address` speaking `codec`; what it delivers and logs are kept. */
async function node(self: string, address: string, codec: CodecName, got: Envelope[], logs: string[]): Promise<TcpNetwork> {
  const n = new TcpNetwork({
    self,
    address,
    codec: wireCodec(codec),
    clock: new LamportClock(),
    onEnvelope: (env) => void got.push(env),
    onTimer: () => undefined,
    onCommand: (session, id) => session.reply(id, { codec }),
    log: (line) => void logs.push(`${self}: ${line}`),
  });
  await n.start();
  open.push(n);
  return n;
}

const env = (i: number, body: unknown): AppEnvelope => ({ kind: "app", id: messageId(`a.${i}`), from: "a", to: "b", epoch: 0, body, link: 1 });

describe("two nodes of different codecs", () => {
  it.each([
    ["json", "msgpack"],
    ["msgpack", "json"],
  ] as const)("a (%s) dialling b (%s): refused at the hello on both sides, naming both codecs; restarted with b's codec, a's messages arrive", async (ca, cb) => {
    const [pa, pb] = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    const got: Envelope[] = [];
    const logs: string[] = [];
    let a = await node("a", pa, ca, [], logs);
    const b = await node("b", pb, cb, got, logs);
    a.addPeer("b", pb);
    b.addPeer("a", pa);
    a.transmit(env(1, { n: 1, m: new Map([["k", new Set([1])]]) }));
    const why = `node "a" speaks the ${ca} wire codec, this process (node "b") the ${cb} codec: both ends of a link must use the same one`;
    await until("both sides to log the refusal", 5000, () => logs.some((l) => l.startsWith("a: ")) && logs.some((l) => l.startsWith("b: ")));
    expect(logs.find((l) => l.startsWith("b: "))).toContain(`b: refused a connection: ${why}; give every node and ctl the same cluster file ("codec:", default msgpack)`);
    expect(logs.find((l) => l.startsWith("a: "))).toContain(`a: "b" refused our connection: ${why}`);
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual([]);
    expect(a.peers()[0]).toMatchObject({ id: "b", connected: false, unacked: 1 });
    // Once only, however often a redials.
    expect(logs.filter((l) => l.startsWith("b: refused")).length).toBe(1);

    // And then: a restarts with b's codec; a message sent after the restart arrives, Maps and Sets intact.
    await a.close();
    a = await node("a", pa, cb, [], logs);
    a.addPeer("b", pb);
    a.transmit(env(2, { n: 2, m: new Map([["k", new Set([2])]]), u: undefined, nan: Number.NaN }));
    await until("the message after the restart", 10_000, () => got.length > 0);
    expect(got[0]).toMatchObject({ id: "a.2", body: { n: 2, m: new Map([["k", new Set([2])]]), u: undefined, nan: Number.NaN } });
    expect(a.peers()[0]).toMatchObject({ connected: true });
  }, 20_000);
});

/** A control session's hello in JSON (as every codec writes it), and what the node answers until it closes. */
async function controlHello(port: number, codec: string | undefined): Promise<WireMessage[]> {
  const socket = net.connect({ host: "127.0.0.1", port });
  const decoder = new FrameDecoder();
  const got: WireMessage[] = [];
  const wire = wireCodec(codec === "msgpack" ? "msgpack" : "json");
  await new Promise<void>((resolve) => {
    socket.on("connect", () => {
      socket.write(encodeFrame(wire.encode({ kind: "hello", from: "ctl-1", role: "control", recv: 0, format: WIRE_FORMAT, ...(codec !== undefined ? { codec } : {}) })));
      socket.write(encodeFrame(wire.encode({ kind: "cmd", id: 1, cmd: { kind: "status" } })));
    });
    socket.on("data", (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) got.push(wire.decode(f) as WireMessage);
      if (got.some((m) => m.kind === "reply")) resolve();
    });
    socket.on("close", () => resolve());
    socket.on("error", () => undefined);
    setTimeout(resolve, 5000);
  });
  socket.destroy();
  return got;
}

describe("a control session of another codec", () => {
  it("is refused with the node's codec named, and runs no command; one of the node's codec is served", async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const logs: string[] = [];
    await node("b", address, "msgpack", [], logs);
    const port = Number(address.split(":")[1]);
    const refused = await controlHello(port, undefined); // an older ctl, or one whose cluster file says json
    expect(refused).toEqual([
      {
        kind: "refused",
        from: "b",
        format: WIRE_FORMAT,
        codec: "msgpack",
        reason: `the control session "ctl-1" speaks the json wire codec, this process (node "b") the msgpack codec: both ends of a link must use the same one; give every node and ctl the same cluster file ("codec:", default msgpack) and restart the odd one out`,
      },
    ]);
    const served = await controlHello(port, "msgpack");
    expect(served.map((m) => m.kind)).toEqual(["hello", "reply"]);
    expect(served[0]).toMatchObject({ kind: "hello", from: "b", codec: "msgpack" });
    expect(served[1]).toMatchObject({ kind: "reply", id: 1, ok: true, value: { codec: "msgpack" } });
  });

  it("CodecMismatchError says which side speaks which", () => {
    const e = new CodecMismatchError(`node "x"`, "json", "msgpack", `the control plane "ctl-1"`);
    expect(e.code).toBe("CODEC_MISMATCH");
    expect(e.message).toMatch(/^node "x" speaks the json wire codec, this process \(the control plane "ctl-1"\) the msgpack codec/);
  });
});
