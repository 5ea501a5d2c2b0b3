import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { natsMissing, startNatsServer, type NatsServer } from "../../../test/support/nats-server.js";
import { JetStreamChannels } from "./jetstream-channels.js";

const missing = natsMissing();
let server: NatsServer | undefined;
let clusters = 0;

beforeAll(async () => {
  if (missing === undefined) server = await startNatsServer();
}, 30_000);
afterAll(async () => {
  await server?.close();
});

const frame = (i: number): Uint8Array => new TextEncoder().encode(`frame ${i}`);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A node's receiving end: the frames it got, in the order it got them. */
async function node(cluster: string, self: string, got: string[] = []): Promise<{ readonly ch: JetStreamChannels; readonly got: string[] }> {
  const ch = await JetStreamChannels.open({ servers: [(server as NatsServer).url], cluster, self, onFrame: (from, seq, f) => void got.push(`${from}#${seq}:${text(f)}`) });
  return { ch, got };
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const expected = (from: string, a: number, b: number): string[] => Array.from({ length: b - a + 1 }, (_, i) => `${from}#${a + i}:frame ${a + i}`);

describe.skipIf(missing !== undefined)(`node-to-node channels over NATS JetStream${missing !== undefined ? ` (skipped: ${missing})` : ""}`, () => {
  it("in order and once, a frame republished by a restarted sender (same sequence number) delivered once", async () => {
    const cluster = `t${++clusters}`;
    const a = await node(cluster, "a");
    const b = await node(cluster, "b");
    try {
      await b.ch.listen("a", 0);
      for (let i = 1; i <= 500; i++) await a.ch.send("b", i, frame(i));
      await a.ch.send("b", 500, frame(500)); // the sender restarted and sent its last frame again
      await until("500 frames", () => b.got.length >= 500);
      await new Promise((r) => setTimeout(r, 200));
      expect(b.got).toEqual(expected("a", 1, 500));
    } finally {
      await a.ch.close();
      await b.ch.close();
    }
  });

  it("frames to a node that is down wait in the stream; a node that crashed reads again from its oldest unacknowledged frame and skips what it had committed", async () => {
    const cluster = `t${++clusters}`;
    const a = await node(cluster, "a");
    try {
      for (let i = 1; i <= 100; i++) await a.ch.send("b", i, frame(i));
      const b1 = await node(cluster, "b");
      await b1.ch.listen("a", 0);
      await until("100 frames", () => b1.got.length >= 100);
      b1.ch.ack("a", 40); // its store committed up to 60, but only 40 were acknowledged before it died
      await b1.ch.close();
      for (let i = 101; i <= 120; i++) await a.ch.send("b", i, frame(i));
      const b2 = await node(cluster, "b");
      await b2.ch.listen("a", 60);
      await until("61..120", () => b2.got.length >= 60);
      await new Promise((r) => setTimeout(r, 200));
      expect(b2.got).toEqual(expected("a", 61, 120));
      expect(await a.ch.pending("b")).toBe(60); // delivered, not yet acknowledged: still in the stream
      b2.ch.ack("a", 120);
      let left = -1;
      for (let i = 0; i < 100 && left !== 0; i++) {
        left = await a.ch.pending("b");
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(left).toBe(0); // acknowledged: gone from the stream
      await b2.ch.close();
    } finally {
      await a.ch.close();
    }
  });

  it("the NATS server restarted mid-run (its store kept): both ends reconnect and nothing is lost", async () => {
    const cluster = `t${++clusters}`;
    const a = await node(cluster, "a");
    const b = await node(cluster, "b");
    try {
      await b.ch.listen("a", 0);
      for (let i = 1; i <= 50; i++) await a.ch.send("b", i, frame(i));
      await until("50 frames", () => b.got.length >= 50);
      b.ch.ack("a", 50);
      await (server as NatsServer).stop();
      await (server as NatsServer).start();
      // Sends during the reconnection retry until the server has them.
      for (let i = 51; i <= 100; i++) {
        for (let attempt = 0; ; attempt++) {
          try {
            await a.ch.send("b", i, frame(i));
            break;
          } catch (e) {
            if (attempt > 100) throw e;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }
      await until("100 frames", () => b.got.length >= 100, 20_000);
      expect(b.got).toEqual(expected("a", 1, 100));
    } finally {
      await a.ch.close();
      await b.ch.close();
    }
  }, 60_000);

  it("refuses a name NATS cannot carry, and says when NATS is not there", async () => {
    await expect(JetStreamChannels.open({ servers: [(server as NatsServer).url], cluster: "a.b", self: "x", onFrame: () => undefined })).rejects.toThrow(/the cluster "a\.b" cannot name a NATS subject; use letters, digits/);
    await expect(JetStreamChannels.open({ servers: ["nats://127.0.0.1:1"], cluster: "c", self: "x", onFrame: () => undefined })).rejects.toThrow(/cannot reach NATS at nats:\/\/127\.0\.0\.1:1 .*check that nats-server runs there with JetStream/);
  });
});
