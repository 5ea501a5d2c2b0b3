import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "nats";
import { afterAll, describe, expect, it } from "vitest";
import { natsServerForTests } from "../../../test/support/nats-server.js";
import type { Envelope } from "../../core/envelope.js";
import { holdNats } from "../../deploy/nats-transport.js";
import { jsonCodec } from "../tcp/codec.js";
import { LamportClock } from "../tcp/lamport-clock.js";
import { TcpNetwork } from "../tcp/tcp-network.js";

/**
 * Durable channels between two TcpNetworks over NATS, their frames through JetStream (the daemon's wiring, without
 * the daemon): what a removed link's sender reports lost is never applied afterwards.
 */
const nats = natsServerForTests();
const missing = nats.missing;
let names = 0;
const dir = mkdtempSync(join(tmpdir(), "liveswap-stream-channels-"));

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
});

const LINK = 7;

function node(t: { kind: "nats"; servers: string[]; name: string }, self: string, events: string[], o: { onEnvelope?: (e: Envelope) => void; onPublish?: (seq: number) => void; onRetract?: () => void; memoryBytes?: number } = {}) {
  const hold = holdNats(t, self);
  const stream = hold.stream(self, (l) => events.push(`${self} log: ${l}`));
  const net = new TcpNetwork({
    self,
    address: `nats:${self}`,
    codec: jsonCodec,
    clock: new LamportClock(),
    sockets: hold,
    stream: {
      ...stream,
      publish: (to, link, seq, f, inst, round, count) => (o.onPublish?.(seq), stream.publish(to, link, seq, f, inst, round, count)),
      retract: (to, link) => (o.onRetract?.(), stream.retract(to, link)),
    },
    onEnvelope: o.onEnvelope ?? ((e) => void events.push(`${self} applied ${(e as { id: string }).id}`)),
    onTimer: () => undefined,
    onCommand: () => undefined,
    onLost: (envs, why) => void events.push(`${self} reported lost (${why}): ${envs.map((e) => (e as { id: string }).id).join(",")}`),
    outbox: { spillDir: join(dir, `${self}-${++names}`), ...(o.memoryBytes !== undefined ? { memoryBytes: o.memoryBytes } : {}) },
  });
  return { net, hold, close: async () => (await net.close(), await hold.release()) };
}

const env = (i: number, body: unknown = i): Envelope => ({ kind: "app", id: `m${i}`, from: "a", to: "b", epoch: 0, body, link: LINK, seq: i }) as unknown as Envelope;
const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(missing !== undefined)(`durable channels through JetStream${missing !== undefined ? ` (skipped: ${missing})` : ""}`, () => {
  it("a link removed while the neighbour is down: its frames are reported lost, and the neighbour back with the link never applies them", async () => {
    const t = { kind: "nats" as const, servers: [nats.server().url], name: `sc${++names}` };
    const events: string[] = [];
    const a = node(t, "a", events);
    let b = node(t, "b", events);
    await a.net.start();
    await b.net.start();
    a.net.addPeer("b", "nats:b", { instance: `ainst/${LINK}`, delivered: 0, unacked: [], lc: 1 });
    b.net.addPeer("a", "nats:a", { instance: `binst/${LINK}`, delivered: 0, unacked: [], lc: 1 });
    try {
      for (let i = 0; i < 100 && a.net.peers()[0]?.connected !== true; i++) await wait(50);
      a.net.transmit(env(1));
      for (let i = 0; i < 100 && !events.includes("b applied m1"); i++) await wait(50);
      b.net.ackPeer("a", 1);
      await b.close(); // b goes down
      for (let i = 2; i <= 4; i++) a.net.transmit(env(i)); // they wait in the stream for b
      await wait(500);
      a.net.removePeer("b", 300); // the link is removed on a while b is down
      for (let i = 0; i < 100 && !events.some((e) => e.startsWith("a reported lost")); i++) await wait(50);
      b = node(t, "b", events); // b comes back with the link still in its store
      await b.net.start();
      b.net.addPeer("a", "nats:a", { instance: `binst/${LINK}`, delivered: 1, unacked: [], lc: 1 });
      await wait(3_000);
      expect(events.filter((e) => !e.includes(" log: "))).toEqual(["b applied m1", "a reported lost (unlinked): m2,m3,m4"]);
    } finally {
      await a.close();
      await b.close();
    }
  }, 30_000);

  it("a link removed while its neighbour reads slowly: nothing is published once its unread frames are taken out of the stream, nothing of it is left there, and every frame was applied or reported lost", async () => {
    const t = { kind: "nats" as const, servers: [nats.server().url], name: `sc${++names}` };
    const N = 20_000;
    const events: string[] = [];
    let retractedAt = Infinity;
    const lost = new Set<string>();
    const applied = new Set<string>();
    let publishedAfter = 0;
    let last = 0;
    // a's outbox keeps 64 KiB in memory, the rest on disk: b's acknowledgements bring frames back and they are published
    // then, during the removal too (a channel that went on publishing after its report was caught this way).
    const a = node(t, "a", events, {
      onPublish: () => void (performance.now() >= retractedAt && publishedAfter++),
      onRetract: () => void (retractedAt = Math.min(retractedAt, performance.now())),
      memoryBytes: 64 * 1024,
    });
    const b = node(t, "b", events, {
      onEnvelope: (e) => {
        const end = performance.now() + 0.2;
        while (performance.now() < end); // a slow reader (in this same process: it slows the sender's turns too)
        applied.add((e as { id: string }).id);
        last = Number((e as { id: string }).id.slice(1));
      },
    });
    const commit = setInterval(() => b.net.ackPeer("a", last), 50);
    const nc = await connect({ servers: nats.server().url });
    const subject = `liveswap.${t.name}.ch.a.b.${LINK}`;
    const inStream = async (): Promise<number> => (await (await nc.jetstreamManager()).streams.info(`LIVESWAP_${t.name}`, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
    try {
      await a.net.start();
      await b.net.start();
      a.net.addPeer("b", "nats:b", { instance: `ainst/${LINK}`, delivered: 0, unacked: [], lc: 1 });
      b.net.addPeer("a", "nats:a", { instance: `binst/${LINK}`, delivered: 0, unacked: [], lc: 1 });
      for (let i = 0; i < 200 && a.net.peers()[0]?.connected !== true; i++) await wait(50);
      for (let i = 1; i <= N; i++) a.net.transmit(env(i, "y".repeat(100)));
      await wait(500);
      a.net.removePeer("b", 300); // b is not told: it reads on
      for (let i = 0; i < 1200 && !events.some((e) => e.startsWith("a reported lost")); i++) await wait(25);
      for (const id of (events.find((e) => e.startsWith("a reported lost")) ?? "").split(": ")[1]?.split(",") ?? []) lost.add(id);
      expect(await inStream()).toBe(0);
      await wait(2_000);
      expect(publishedAfter).toBe(0);
      expect(await inStream()).toBe(0);
      const missing = Array.from({ length: N }, (_, i) => `m${i + 1}`).filter((id) => !applied.has(id) && !lost.has(id));
      expect(missing).toEqual([]);
      expect(lost.size).toBeGreaterThan(0);
    } finally {
      clearInterval(commit);
      await nc.close();
      await a.close();
      await b.close();
    }
  }, 60_000);
});
