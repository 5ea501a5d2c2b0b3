import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_CODEC, helloCodec, wireCodec } from "../network/tcp/codec-choice.js";
import { encodeFrame, FrameDecoder } from "../network/tcp/frame.js";
import { WIRE_FORMAT, type NodeStatus } from "../network/tcp/protocol.js";
import { dial } from "../network/tcp/sockets.js";
import { startProxiedDbCluster, type ProxiedCluster } from "../../test/support/proxied-cluster.js";
import { ClusterClient } from "./cluster-client.js";
import { keysInit } from "./keys.js";

/**
 * Hostile input over a real authenticated connection: the cluster file links r0 - r1 and h0 - r1; r0 and r1 run, and
 * the test plays h0 with h0's own certificate (a peer the cluster trusts, gone bad). Each wrong frame must make r1
 * log what was wrong, naming h0 (or the address, before a hello), and close that connection; r1 keeps running, its
 * channel with r0 is untouched (no reconnect), and requests are answered.
 */
const keys = mkdtempSync(join(tmpdir(), "liveswap-keys-"));
let cluster: ProxiedCluster | undefined;
let client: ClusterClient | undefined;

beforeAll(async () => {
  keysInit(keys, ["r0", "r1", "h0"]);
  cluster = await startProxiedDbCluster({ nodes: ["r0", "r1", "h0"], links: [["r0", "r1"], ["h0", "r1"]], proxied: [], keys, only: ["r0", "r1"] });
  client = new ClusterClient(cluster.cluster);
}, 90_000);

afterAll(async () => {
  client?.close();
  await cluster?.stop();
}, 30_000);

/** A connection to r1 as h0: raw bytes out, frames in, and whether r1 closed it. */
async function asH0() {
  const c = cluster as ProxiedCluster;
  const r1 = c.cluster.nodes.find((n) => n.id === "r1");
  const material = { ca: readFileSync(join(keys, "ca.crt"), "utf8"), cert: readFileSync(join(keys, "h0.crt"), "utf8"), key: readFileSync(join(keys, "h0.key"), "utf8") };
  const socket: Duplex = await dial(r1?.address as string, material, "r1");
  const decoder = new FrameDecoder();
  const frames: Record<string, unknown>[] = [];
  // h0 speaks the cluster's codec (the default), as the node it pretends to be would.
  const codec = wireCodec(DEFAULT_CODEC);
  socket.on("data", (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) {
      const m = codec.decode(f) as Record<string, unknown>;
      if (m.kind !== "heartbeat") frames.push(m);
    }
  });
  const closed = new Promise<void>((r) => socket.once("close", () => r()));
  socket.on("error", () => undefined);
  return {
    frames,
    closed,
    send: (m: unknown) => socket.write(encodeFrame(codec.encode(m))),
    raw: (b: Buffer) => socket.write(b),
    end: () => socket.end(),
    async hello(fields: Record<string, unknown> = {}) {
      socket.write(encodeFrame(codec.encode({ kind: "hello", from: "h0", role: "node", recv: 0, chan: "h0-instance", format: WIRE_FORMAT, ...helloCodec(codec), ...fields })));
    },
    /** r1's hello, once it answered ours. */
    async answer(): Promise<Record<string, unknown>> {
      for (let i = 0; i < 100; i++) {
        const h = frames.find((f) => f.kind === "hello");
        if (h !== undefined) return h;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error("r1 never answered h0's hello");
    },
  };
}

const r1Log = (): string => readFileSync(join((cluster as ProxiedCluster).dir, ".liveswap-logs", "r1.log"), "utf8");

/** r1 closes the connection within 5 s and its log gains a line matching `line`. */
async function refused(conn: { readonly closed: Promise<void> }, line: RegExp): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([conn.closed, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`r1 kept the connection open; expected ${String(line)}`)), 5000)))]);
  clearTimeout(timer);
  for (let i = 0; i < 50 && !line.test(r1Log()); i++) await new Promise((r) => setTimeout(r, 50));
  expect(r1Log()).toMatch(line);
}

/** r1 runs, answers requests, and its traffic with r0 goes on over the same connection as before. */
async function r1Fine(round: number): Promise<void> {
  const c = client as ClusterClient;
  await c.request("r0", { kind: "write", entry: 3, value: `after-${round}` });
  for (let i = 0; i < 100 && (await c.request("r1", { kind: "read", entry: 3 })) !== `after-${round}`; i++) await new Promise((r) => setTimeout(r, 50));
  expect(await c.request("r1", { kind: "read", entry: 3 })).toBe(`after-${round}`);
  const s: NodeStatus = await c.status("r1");
  expect(s.neighbors.find((n) => n.id === "r0")).toMatchObject({ connected: true, reconnects: 0, suspected: false });
}

const goodEnv = { kind: "app", id: "h0-m1", from: "h0", to: "r1", epoch: 0, body: { kind: "noop" }, link: 2 };

describe("hostile input from an authenticated peer", () => {
  it("frames that are not frames: garbage before the hello, a length prefix over the limit, a frame cut short", async () => {
    const garbage = await asH0();
    garbage.raw(Buffer.from("GET / HTTP/1.1\r\nHost: r1\r\n\r\n"));
    await refused(garbage, /closed the connection with 127\.0\.0\.1:\d+ \(before its hello\): a frame of 1195725856 bytes exceeds the 65536-byte limit/);

    const huge = await asH0();
    await huge.hello();
    await huge.answer();
    huge.raw(Buffer.from([0x7f, 0xff, 0xff, 0xff]));
    await refused(huge, /closed the connection with node "h0": a frame of 2147483647 bytes exceeds the 67108864-byte limit/);

    const cut = await asH0();
    await cut.hello();
    await cut.answer();
    const frame = encodeFrame(wireCodec(DEFAULT_CODEC).encode({ kind: "ack", seq: 0 }));
    cut.raw(frame.subarray(0, 6));
    cut.end();
    await refused(cut, new RegExp(`closed the connection with node "h0": closed in the middle of a frame \\(6 of its ${frame.length} bytes arrived\\)`));
    await r1Fine(1);
  }, 60_000);

  it("valid frames that are wrong: an unknown kind, a bad field, a frame before the hello, a second hello", async () => {
    const unknown = await asH0();
    await unknown.hello();
    await unknown.answer();
    unknown.send({ kind: "gossip", rumour: "r0 is down" });
    await refused(unknown, /closed the connection with node "h0": a frame of kind the string "gossip", which this protocol does not have/);

    const field = await asH0();
    await field.hello();
    await field.answer();
    field.send({ kind: "data", seq: -1, lc: 1, env: goodEnv });
    await refused(field, /closed the connection with node "h0": a "data" frame: "seq" is the number -1, not a whole number of at least 1/);

    const early = await asH0();
    early.send({ kind: "data", seq: 1, lc: 1, env: goodEnv });
    await refused(early, /refused a "data" frame before its hello from 127\.0\.0\.1:\d+ \(before its hello\)/);

    const twice = await asH0();
    await twice.hello();
    await twice.answer();
    await twice.hello();
    await refused(twice, /refused a second hello on the same connection from node "h0"/);
    await r1Fine(2);
  }, 60_000);

  it("numbers that lie: a data frame far ahead, a spoofed sender, a prepare without its contents, an ack and a hello beyond what was sent", async () => {
    // Writes at r1 flood to its neighbours, h0 included: frames r1 sent to h0 wait for an acknowledgement that never comes.
    for (let i = 0; i < 3; i++) await (client as ClusterClient).request("r1", { kind: "write", entry: 10 + i, value: `v${i}` });
    const ahead = await asH0();
    await ahead.hello();
    const r1Hello = await ahead.answer();
    ahead.send({ kind: "data", seq: 1_000_000_000, lc: 1, env: goodEnv });
    await refused(ahead, /refused data frame #1000000000 where #1 was next \(frames #1 to #999999999 skipped\) from node "h0"/);

    const spoof = await asH0();
    await spoof.hello();
    await spoof.answer();
    spoof.send({ kind: "data", seq: 1, lc: 1, env: { ...goodEnv, from: "r0" } });
    await refused(spoof, /refused data frame #1 whose envelope says it goes from "r0" to "r1" from node "h0"/);

    // Well-formed as a frame, nonsense inside: a prepare without its run. It used to throw in the node and kill it.
    const prepare = await asH0();
    await prepare.hello();
    await prepare.answer();
    prepare.send({ kind: "data", seq: 1, lc: 1, env: { kind: "control", from: "h0", to: "r1", update: 1, msg: { kind: "prepare" }, link: 2, plane: true } });
    await refused(prepare, /refused a control envelope \("prepare" of update #1\) from node "h0": the node could not take it \(TypeError: .*\); closing the connection/);
    expect((cluster as ProxiedCluster).nodes.find((n) => n.id === "r1")?.child.exitCode).toBeNull();

    const ack = await asH0();
    await ack.hello({ seen: r1Hello.chan });
    await ack.answer();
    ack.send({ kind: "ack", seq: 1_000_000_000 });
    await refused(ack, /refused an acknowledgement of frame #1000000000 when only #\d+ was sent from node "h0"/);

    const liar = await asH0();
    await liar.hello({ seen: r1Hello.chan, recv: 1_000_000_000 });
    await refused(liar, /refused the connection from node "h0" \(127\.0\.0\.1:\d+\): its hello says it received our frames up to #1000000000, but we sent only up to #\d+ \(\d+ unacknowledged, kept for resending\)/);

    // Nothing r1 sent h0 was dropped by the lies: an honest hello gets all of it again, from #1.
    const honest = await asH0();
    await honest.hello({ seen: r1Hello.chan });
    await honest.answer();
    for (let i = 0; i < 100 && !honest.frames.some((f) => f.kind === "data"); i++) await new Promise((r) => setTimeout(r, 50));
    const seqs = honest.frames.filter((f) => f.kind === "data").map((f) => f.seq);
    expect(seqs[0]).toBe(1);
    expect(seqs.length).toBeGreaterThanOrEqual(3);
    const s = await (client as ClusterClient).status("r1");
    expect(s.neighbors.find((n) => n.id === "h0")?.unacked).toBe(seqs.length);
    honest.end();
    await r1Fine(3);
  }, 60_000);
});
