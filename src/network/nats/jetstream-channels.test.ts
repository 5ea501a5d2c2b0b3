import { describe, expect, it } from "vitest";
import { natsServerForTests } from "../../../test/support/nats-server.js";
import { JetStreamChannels } from "./jetstream-channels.js";
import { openNats } from "./nats-connection.js";

const nats = natsServerForTests();
const missing = nats.missing;
let clusters = 0;


const frame = (i: number): Uint8Array => new TextEncoder().encode(`frame ${i}`);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A node: its channels, and the frames it got, in the order it got them. */
async function node(cluster: string, self: string): Promise<{ readonly ch: JetStreamChannels; readonly got: string[]; listen(from: string, after: number, instance?: string): void; close(): Promise<void> }> {
  const nc = await openNats({ servers: [nats.server().url], name: self });
  const ch = await JetStreamChannels.on(nc, cluster, self);
  const got: string[] = [];
  return {
    ch,
    got,
    listen: (from, after, instance = `${self}-1`) => ch.listen(from, 1, after, instance, (seq, f) => void got.push(`${from}#${seq}:${text(f)}`)),
    close: async () => {
      await ch.close();
      await nc.close();
    },
  };
}

/** Frame i of a -> b on link 1, for b's instance "b-1". */
const send = (a: { readonly ch: JetStreamChannels }, i: number, to = "b", instance = `${to}-1`): Promise<void> => a.ch.publish(to, 1, i, frame(i), instance, 1);

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Frames of a -> b (link 1) left in the stream, once none is (or after 2 s, what is). */
async function drained(a: { readonly ch: JetStreamChannels }): Promise<number> {
  let left = await a.ch.pending("b", 1);
  for (let i = 0; i < 100 && left !== 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
    left = await a.ch.pending("b", 1);
  }
  return left;
}

const expected = (from: string, a: number, b: number): string[] => Array.from({ length: b - a + 1 }, (_, i) => `${from}#${a + i}:frame ${a + i}`);

describe.skipIf(missing !== undefined)(`node-to-node channels over NATS JetStream${missing !== undefined ? ` (skipped: ${missing})` : ""}`, () => {
  it("in order and once, a frame republished by a restarted sender (same sequence number) delivered once", async () => {
    const cluster = `t${++clusters}`;
    const a = await node(cluster, "a");
    const b = await node(cluster, "b");
    try {
      b.listen("a", 0);
      for (let i = 1; i <= 500; i++) await send(a, i);
      await send(a, 500); // the sender restarted and sent its last frame again
      await until("500 frames", () => b.got.length >= 500);
      await new Promise((r) => setTimeout(r, 200));
      expect(b.got).toEqual(expected("a", 1, 500));
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("frames to a node that is down wait in the stream; a node that crashed reads again from its oldest unacknowledged frame and skips what it had committed", async () => {
    const cluster = `t${++clusters}`;
    const a = await node(cluster, "a");
    try {
      for (let i = 1; i <= 100; i++) await send(a, i);
      const b1 = await node(cluster, "b");
      b1.listen("a", 0);
      await until("100 frames", () => b1.got.length >= 100);
      b1.ch.ack("a", 1, 40); // its store committed up to 60, but only 40 were acknowledged before it died
      await b1.close();
      for (let i = 101; i <= 120; i++) await send(a, i);
      const b2 = await node(cluster, "b");
      b2.listen("a", 60);
      await until("61..120", () => b2.got.length >= 60);
      await new Promise((r) => setTimeout(r, 200));
      expect(b2.got).toEqual(expected("a", 61, 120));
      expect(await a.ch.pending("b", 1)).toBe(60); // delivered, not yet acknowledged: still in the stream
      b2.ch.ack("a", 1, 120);
      expect(await drained(a)).toBe(0); // acknowledged: gone from the stream
      await b2.close();
    } finally {
      await a.close();
    }
  });

  it("the NATS server restarted mid-run (its store kept): both ends reconnect and nothing is lost", async () => {
    const cluster = `t${++clusters}`;
    const a = await node(cluster, "a");
    const b = await node(cluster, "b");
    try {
      b.listen("a", 0);
      for (let i = 1; i <= 50; i++) await send(a, i);
      await until("50 frames", () => b.got.length >= 50);
      b.ch.ack("a", 1, 50);
      await nats.server().stop();
      await nats.server().start();
      // Sends during the reconnection retry until the server has them.
      for (let i = 51; i <= 100; i++) {
        for (let attempt = 0; ; attempt++) {
          try {
            await send(a, i);
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
      await a.close();
      await b.close();
    }
  }, 60_000);

  it("a frame published again after a failure (stored after its successors) waits for nothing: its successors wait for it", async () => {
    const cluster = `t${++clusters}`;
    const a = await node(cluster, "a");
    const b = await node(cluster, "b");
    try {
      b.listen("a", 0);
      await send(a, 1);
      for (const i of [3, 4, 2, 5]) await send(a, i);
      await until("5 frames", () => b.got.length >= 5);
      expect(b.got).toEqual(expected("a", 1, 5));
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("frames left in the stream for an earlier store of the receiver are dropped, not applied", async () => {
    const cluster = `t${++clusters}`;
    const a = await node(cluster, "a");
    const b = await node(cluster, "b");
    try {
      for (let i = 1; i <= 3; i++) await send(a, i, "b", "b-old");
      for (let i = 1; i <= 2; i++) await send(a, i, "b", "b-new");
      b.listen("a", 0, "b-new");
      await until("2 frames", () => b.got.length >= 2);
      await new Promise((r) => setTimeout(r, 200));
      expect(b.got).toEqual(expected("a", 1, 2));
      b.ch.ack("a", 1, 2);
      // The earlier store's frames were let go of: nothing is left.
      expect(await drained(a)).toBe(0);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("a frame larger than the servers take in one message goes in parts and arrives whole, in its place", async () => {
    const cluster = `t${++clusters}`;
    const a = await node(cluster, "a");
    const b = await node(cluster, "b");
    const big = new Uint8Array(2_600_000).map((_, i) => i % 251);
    const got: string[] = [];
    let whole: Uint8Array | undefined;
    try {
      b.ch.listen("a", 1, 0, "b-1", (seq, f) => {
        got.push(`${seq}:${f.length}`);
        if (seq === 2) whole = f;
      });
      await send(a, 1);
      await a.ch.publish("b", 1, 2, big, "b-1", 1);
      await send(a, 3);
      await until("3 frames", () => got.length >= 3);
      expect(got).toEqual([`1:${frame(1).length}`, "2:2600000", `3:${frame(3).length}`]);
      expect(Buffer.from(whole as Uint8Array).equals(Buffer.from(big))).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("frames in batches (a turn's frames in one message), batches published again with other bounds: each frame once, in order", async () => {
    const cluster = `t${++clusters}`;
    const a = await node(cluster, "a");
    const b = await node(cluster, "b");
    /** Frames i..j, each with its 4-byte length, in one message. */
    const batch = (i: number, j: number): Uint8Array => {
      const parts = Array.from({ length: j - i + 1 }, (_, k) => {
        const body = frame(i + k);
        const out = Buffer.alloc(4 + body.length);
        out.writeUInt32BE(body.length, 0);
        out.set(body, 4);
        return out;
      });
      return Buffer.concat(parts);
    };
    const got: string[] = [];
    try {
      b.ch.listen("a", 1, 0, "b-1", (seq, f) => void got.push(`${seq}:${text(f.subarray(4))}`));
      await a.ch.publish("b", 1, 1, batch(1, 3), "b-1", 1, 3);
      await a.ch.publish("b", 1, 5, batch(5, 6), "b-1", 1, 2); // 4 lost: 5..6 wait for it
      await a.ch.publish("b", 1, 3, batch(3, 5), "b-1", 2, 3); // published again from 3 after a reconnection
      await a.ch.publish("b", 1, 7, batch(7, 7), "b-1", 2, 1);
      await until("7 frames", () => got.length >= 7);
      await new Promise((r) => setTimeout(r, 200));
      expect(got).toEqual(Array.from({ length: 7 }, (_, k) => `${k + 1}:frame ${k + 1}`));
      b.ch.ack("a", 1, 7);
      expect(await drained(a)).toBe(0); // the copies were let go of too
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("a channel whose reading could not start (the server away) starts once the server is back", async () => {
    const cluster = `t${++clusters}`;
    const a = await node(cluster, "a");
    const b = await node(cluster, "b");
    try {
      await send(a, 1);
      await nats.server().stop();
      b.listen("a", 0);
      await new Promise((r) => setTimeout(r, 1_500));
      await nats.server().start();
      await until("the frame", () => b.got.length >= 1, 20_000);
      expect(b.got).toEqual(expected("a", 1, 1));
    } finally {
      await a.close();
      await b.close();
    }
  }, 40_000);

  it("refuses a name NATS cannot carry", async () => {
    const nc = await openNats({ servers: [nats.server().url], name: "x" });
    try {
      await expect(JetStreamChannels.on(nc, "a.b", "x")).rejects.toThrow(/the cluster "a\.b" cannot name a NATS subject; use letters, digits/);
      const ch = await JetStreamChannels.on(nc, "c", "x");
      await expect(ch.publish("y.z", 1, 1, frame(1), "i", 1)).rejects.toThrow(/the node id "y\.z" cannot name a NATS subject/);
    } finally {
      await nc.close();
    }
  });
});
