import net from "node:net";
import { describe, expect, it } from "vitest";
import { RetiredVersionError, WireFormatError } from "../core/errors.js";
import { CodecMismatchError, jsonCodec } from "../network/tcp/codec.js";
import { wireCodec, type CodecName } from "../network/tcp/codec-choice.js";
import { LamportClock } from "../network/tcp/lamport-clock.js";
import { TcpNetwork } from "../network/tcp/tcp-network.js";
import { encodeFrame, FrameDecoder } from "../network/tcp/frame.js";
import { WIRE_FORMAT, type NodeStatus, type WireMessage } from "../network/tcp/protocol.js";
import { ClusterClient, VersionMismatchLinkError, checkLinkVersions } from "./cluster-client.js";

const node = (id: string, version: string, retired: readonly string[] = []): NodeStatus => ({
  id,
  version,
  epoch: retired.length,
  retired,
  neighbors: [],
  update: null,
  openRequests: 0,
  pid: 1,
});

describe("ctl link: which nodes may be linked (checkLinkVersions)", () => {
  it("refuses a node running a version the other retired, before the version mismatch check, naming both", () => {
    const fresh = node("c", "db@1");
    const updated = node("a", "db@2", ["db@1"]);
    let thrown: unknown;
    try {
      checkLinkVersions(fresh, updated);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(RetiredVersionError);
    expect(thrown).toMatchObject({ code: "RETIRED_VERSION", node: "c", version: "db@1" });
    expect((thrown as Error).message).toMatch(/^link: node "c" runs "db@1", which is retired \(an update replaced it\); the system runs "db@2" now/);
    expect(() => checkLinkVersions(updated, fresh)).toThrow(RetiredVersionError);
  });

  it("counts what any running node retired, so two old images are not linked to each other either", () => {
    const others = [node("a", "db@2", ["db@1"])];
    expect(() => checkLinkVersions(node("c", "db@1"), node("d", "db@1"), others)).toThrow(/node "c" runs "db@1", which is retired/);
  });

  it("links nodes at one current version; different current versions are still a mismatch; a back-out makes a version current", () => {
    expect(() => checkLinkVersions(node("a", "db@2", ["db@1"]), node("b", "db@2", ["db@1"]))).not.toThrow();
    expect(() => checkLinkVersions(node("a", "db@2"), node("b", "kv@1"))).toThrow(VersionMismatchLinkError);
    // Backed out: db@1 is current again (no longer in the host's retired list), db@2 is retired.
    const backedOut = node("a", "db@1", ["db@2"]);
    expect(() => checkLinkVersions(backedOut, node("c", "db@1"))).not.toThrow();
    expect(() => checkLinkVersions(backedOut, node("d", "db@2"))).toThrow(/node "d" runs "db@2", which is retired/);
  });

  it("takes a status without `retired` (a node of an older liveswap) as nothing retired", () => {
    const { retired: _r, ...old } = node("a", "db@1");
    expect(() => checkLinkVersions(old, node("b", "db@1"))).not.toThrow();
  });
});

/** A hand-made node "x": answers a control session's hello with `answer`; keeps what it read. */
async function fakeNode(answer: unknown): Promise<{ client: ClusterClient; read: WireMessage[]; close(): Promise<void> }> {
  const read: WireMessage[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const decoder = new FrameDecoder();
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        const msg = jsonCodec.decode(f) as WireMessage;
        read.push(msg);
        if (msg.kind === "hello") socket.write(encodeFrame(jsonCodec.encode(answer)));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const client = new ClusterClient({ file: "/nowhere/cluster.yaml", nodes: [{ id: "x", address, package: "unused.js", behavior: "b" }], links: [], codec: "json" });
  return {
    client,
    read,
    close: () => {
      client.close();
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe("ctl and a node of another wire format", () => {
  it("ctl says its hello's format, refuses a node answering in a newer one, and names the side to upgrade", async () => {
    const node = await fakeNode({ kind: "hello", from: "x", role: "node", recv: 0, format: WIRE_FORMAT + 1 });
    const err = await node.client.status("x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WireFormatError);
    expect((err as Error).message).toMatch(
      new RegExp(`^node "x" speaks liveswap wire format ${WIRE_FORMAT + 1}, this process \\(the control plane "ctl-[^"]+"\\) reads ${WIRE_FORMAT}: upgrade liveswap on the control plane "ctl-[^"]+" first`),
    );
    expect(node.read[0]).toMatchObject({ kind: "hello", role: "control", format: WIRE_FORMAT });
    for (let i = 0; i < 100 && !node.read.some((m) => m.kind === "refused"); i++) await new Promise((r) => setTimeout(r, 10));
    expect(node.read.find((m) => m.kind === "refused")).toMatchObject({ format: WIRE_FORMAT });
    await node.close();
  });

  it("an older node (no format in its hello) is refused: upgrade it first", async () => {
    const node = await fakeNode({ kind: "hello", from: "x", role: "node", recv: 0 });
    await expect(node.client.status("x")).rejects.toThrow(/^node "x" speaks an older liveswap wire format \(its hello names none\), .* upgrade liveswap on node "x" first/);
    await node.close();
  });

  it("a node that refused ctl's hello: its refusal becomes the error, not a bare \"cannot be reached\"", async () => {
    const node = await fakeNode({ kind: "refused", from: "x", format: 3, reason: "x's words" });
    await expect(node.client.status("x")).rejects.toThrow(WireFormatError);
    await expect(node.client.status("x")).rejects.toThrow(/node "x" speaks liveswap wire format 3, this process \(the control plane/);
    await node.close();
  });
});

describe("ctl and a node of another wire codec", () => {
  /** A real node's network speaking `codec`, answering status with its codec's name. */
  async function codecNode(codec: CodecName): Promise<{ address: string; close(): Promise<void> }> {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", () => r()));
    const address = `127.0.0.1:${(probe.address() as net.AddressInfo).port}`;
    await new Promise<void>((r) => probe.close(() => r()));
    const n = new TcpNetwork({ self: "x", address, codec: wireCodec(codec), clock: new LamportClock(), onEnvelope: () => undefined, onTimer: () => undefined, onCommand: (s, id) => s.reply(id, { codec }) });
    await n.start();
    return { address, close: () => n.close() };
  }
  const client = (address: string, codec: CodecName): ClusterClient =>
    new ClusterClient({ file: "/nowhere/cluster.yaml", nodes: [{ id: "x", address, package: "unused.js", behavior: "b" }], links: [], codec });

  it.each([
    ["json", "msgpack"],
    ["msgpack", "json"],
  ] as const)("a %s ctl and a %s node: CodecMismatchError naming both; a ctl of the node's codec is served", async (ours, theirs) => {
    const x = await codecNode(theirs);
    const wrong = client(x.address, ours);
    const err = await wrong.status("x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CodecMismatchError);
    expect((err as Error).message).toMatch(new RegExp(`^node "x" speaks the ${theirs} wire codec, this process \\(the control plane "ctl-[^"]+"\\) the ${ours} codec: both ends of a link must use the same one`));
    wrong.close();
    const right = client(x.address, theirs);
    await expect(right.command("x", { kind: "status" })).resolves.toEqual({ codec: theirs });
    right.close();
    await x.close();
  });
});
