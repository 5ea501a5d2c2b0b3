import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { AppEnvelope, Envelope } from "../../core/envelope.js";
import { messageId } from "../../core/ids.js";
import { freePort } from "../../deploy/free-port.js";
import { startBlackholeProxy, type BlackholeProxy } from "../../../test/support/blackhole-proxy.js";
import { jsonCodec } from "./codec.js";
import { Connection } from "./connection.js";
import { checkHeartbeatOptions, HeartbeatOptionsError } from "./heartbeat.js";
import { LamportClock } from "./lamport-clock.js";
import { TcpNetwork } from "./tcp-network.js";

const FAST = { intervalMs: 50, suspectAfterMs: 300 };
const open: { close(): Promise<void> | void }[] = [];

afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
});

async function until(what: string, ms: number, ok: () => boolean): Promise<void> {
  const end = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Two nodes in this process: "a" dials "b" through a blackhole proxy (b binds privately, a dials the proxy). */
async function pair() {
  const bListen = `127.0.0.1:${await freePort()}`;
  const proxy: BlackholeProxy = await startBlackholeProxy(bListen);
  const got: Envelope[] = [];
  const changes: string[] = [];
  const logs: string[] = [];
  const node = (self: string, address: string) =>
    new TcpNetwork({
      self,
      address,
      codec: jsonCodec,
      clock: new LamportClock(),
      heartbeat: FAST,
      onEnvelope: (env) => void (self === "b" && got.push(env)),
      onTimer: () => undefined,
      onCommand: () => undefined,
      onSuspect: (peer, suspected) => void changes.push(`${self}:${peer}:${suspected ? "suspect" : "unsuspect"}`),
      log: (line) => void logs.push(`${self}: ${line}`),
    });
  const a = node("a", `127.0.0.1:${await freePort()}`);
  const b = node("b", bListen);
  await a.start();
  await b.start();
  open.push(proxy, a, b);
  a.addPeer("b", proxy.address);
  b.addPeer("a", "127.0.0.1:1");
  let n = 0;
  const send = (): void => {
    n++;
    const env: AppEnvelope = { kind: "app", id: messageId(`m${n}`), from: "a", to: "b", epoch: 0, body: n, link: 1 };
    a.transmit(env);
  };
  return { a, b, proxy, got, changes, logs, send, sent: () => n };
}

describe("heartbeats between two nodes", () => {
  it("a partition: both sides suspect (status, callback, log), close and redial; after the heal every frame arrives once, in order", async () => {
    const { a, b, proxy, got, changes, logs, send, sent } = await pair();
    await until("connected", 5000, () => a.peers()[0]?.connected === true && b.peers()[0]?.connected === true);
    for (let i = 0; i < 20; i++) send();
    proxy.blackhole();
    for (let i = 0; i < 20; i++) send();
    await until("both suspect", 3000, () => a.peers()[0]?.suspected === true && b.peers()[0]?.suspected === true);
    expect(a.peers()[0]?.silentMs).toBeGreaterThan(FAST.suspectAfterMs);
    // Well past anything TCP would do by itself here: the proxy keeps every socket open.
    await new Promise((r) => setTimeout(r, 1000));
    expect(a.peers()[0]).toMatchObject({ suspected: true, connected: false });
    for (let i = 0; i < 20; i++) send();
    proxy.heal();
    await until("heard again and every frame applied", 10_000, () => a.peers()[0]?.suspected === false && a.peers()[0]?.unacked === 0 && got.length >= sent());
    expect(got.map((e) => (e as AppEnvelope).body)).toEqual(Array.from({ length: sent() }, (_, i) => i + 1));
    expect(changes).toEqual(expect.arrayContaining(["a:b:suspect", "b:a:suspect", "a:b:unsuspect"]));
    await until("b hears a again", 3000, () => changes.includes("b:a:unsuspect"));
    expect(logs.some((l) => /^a: node "b" is suspected: nothing heard from it for \d+ ms \(suspectAfterMs 300\)/.test(l))).toBe(true);
    expect(a.peers()[0]?.reconnects).toBeGreaterThan(0);
  }, 30_000);

  it("a quiet link is not suspected: heartbeats alone keep it alive", async () => {
    const { a, b, changes } = await pair();
    await until("connected", 5000, () => a.peers()[0]?.connected === true);
    await new Promise((r) => setTimeout(r, 4 * FAST.suspectAfterMs));
    expect(changes).toEqual([]);
    expect(a.peers()[0]).toMatchObject({ connected: true, suspected: false, reconnects: 0 });
    expect(b.peers()[0]?.silentMs).toBeLessThan(FAST.suspectAfterMs);
  }, 20_000);

  it("this process stalling longer than the timeout suspects no one for its own stall", async () => {
    const { a, b, changes } = await pair();
    await until("connected", 5000, () => a.peers()[0]?.connected === true && b.peers()[0]?.connected === true);
    const stallUntil = performance.now() + 3 * FAST.suspectAfterMs;
    while (performance.now() < stallUntil) {
      // a long synchronous step: every timer of this process comes late
    }
    await new Promise((r) => setTimeout(r, 4 * FAST.intervalMs));
    expect(changes).toEqual([]);
    expect(a.peers()[0]).toMatchObject({ connected: true, reconnects: 0 });
  }, 20_000);
});

describe("heartbeats on a connection", () => {
  it("a side that never answers is closed after the timeout, with the reason", async () => {
    // A listener that accepts and never writes a byte (a frozen process's kernel still accepts).
    const accepted: net.Socket[] = [];
    const mute = net.createServer((s) => void accepted.push(s));
    await new Promise<void>((r) => mute.listen(0, "127.0.0.1", () => r()));
    open.push({
      close: () => {
        for (const s of accepted) s.destroy();
        return new Promise<void>((r) => mute.close(() => r()));
      },
    });
    const socket = net.connect((mute.address() as net.AddressInfo).port, "127.0.0.1");
    const reason = await new Promise<string | undefined>((resolve) => new Connection(socket, jsonCodec, () => undefined, (_c, why) => resolve(why), { heartbeat: FAST }));
    expect(reason).toMatch(/^silent for \d+ ms \(no frame, not even a heartbeat; suspected after 300 ms\)$/);
  }, 10_000);
});

describe("heartbeat options", () => {
  it.each([
    [{ intervalMs: 0, suspectAfterMs: 5000 }, /heartbeat\.intervalMs must be a whole number of ms from 10 to 60000/],
    [{ intervalMs: 1000, suspectAfterMs: 1500 }, /heartbeat\.suspectAfterMs must be at least twice intervalMs \(2000 ms for an interval of 1000 ms\), not 1500/],
    [{ intervalMs: 1000, suspectAfterMs: 1e9 }, /heartbeat\.suspectAfterMs must be a whole number of ms up to 600000/],
    [{ intervalMs: 1.5, suspectAfterMs: 5000 }, /intervalMs must be a whole number/],
  ])("refuses %j, naming the field and the bound", (o, message) => {
    expect(() => checkHeartbeatOptions(o)).toThrow(HeartbeatOptionsError);
    expect(() => checkHeartbeatOptions(o)).toThrow(message);
  });
});
