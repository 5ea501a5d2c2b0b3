import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LiveswapError } from "../core/errors.js";
import { checkNodeFiles, ClusterFileError, linkIncarnations, loadClusterFile, parseCluster } from "./cluster-file.js";
import { UnknownClusterNodeError } from "./errors.js";

const good = `nodes:
  - id: a
    address: 127.0.0.1:7401
    package: pkg.ts
    behavior: v1
  - id: b
    address: 127.0.0.1:7402
    package: pkg.ts
    behavior: v1
links:
  - [a, b]
trust:
  signingKey: keys/signing.pub
`;

describe("the cluster file", () => {
  it("parses nodes, links and keys, with paths relative to the file", () => {
    const c = parseCluster(good, "/srv/cluster/cluster.yaml");
    expect(c.nodes.map((n) => n.id)).toEqual(["a", "b"]);
    expect(c.nodes[0]?.package).toBe("/srv/cluster/pkg.ts");
    expect(c.signingKey).toBe("/srv/cluster/keys/signing.pub");
    expect([...linkIncarnations(c).values()]).toEqual([1]);
  });

  it.each([
    [good.replace("127.0.0.1:7402", "localhost"), /cluster\.yaml:7:\d+: field "nodes\.1\.address": expected host:port/],
    [good.replace("behavior: v1\n  - id: b", "behaviour: v1\n  - id: b"), /cluster\.yaml:2:\d+: field "nodes\.0/],
    [good.replace("[a, b]", "[a, c]"), /cluster\.yaml:11:\d+: field "links\.0\.1": no node "c"/],
    [good.replace("[a, b]", "[a, a]"), /field "links\.0": a node cannot link to itself/],
    [good.replace("id: b", "id: a"), /cluster\.yaml:6:\d+: field "nodes\.1\.id": node "a" is listed twice/],
    [good.replace("nodes:", "nodes: [\n"), /cluster\.yaml:\d+:\d+: not valid YAML/],
    [`${good}tls:\n  ca: ca.crt\n  control: { cert: c.crt, key: c.key }\n`, /the cluster uses TLS, so node "a" needs cert and key/],
    // What a new user writes: an empty `links:`, a link that is not a pair, an empty entry, two nodes on one address.
    [good.replace("links:\n  - [a, b]\n", "links:\n"), /cluster\.yaml:10:7: field "links": is empty: list each link under it as - \[a, b\], or write links: \[\] for a cluster without links$/],
    [good.replace("[a, b]", "[a]"), /cluster\.yaml:11:5: field "links\.0": a link is a pair of node ids, e\.g\. - \[a, b\]; got \["a"\]$/],
    [good.replace("- [a, b]", "- a, b"), /field "links\.0": a link is a pair of node ids, e\.g\. - \[a, b\]; got "a, b"$/],
    [good.replace("trust:\n  signingKey: keys/signing.pub\n", "trust:\n"), /cluster\.yaml:\d+:\d+: field "trust": is empty: give it a value, or remove the line$/],
    [good.replace("127.0.0.1:7402", "127.0.0.1:7401"), /cluster\.yaml:7:\d+: field "nodes\.1\.address": 127\.0\.0\.1:7401 is node "a"'s address too; each node listens on its own$/],
    [good.replace("127.0.0.1:7402", "127.0.0.1:0"), /field "nodes\.1\.address": port 0 is no address its neighbours can dial/],
    [`${good}requestTimeoutMs: 0\n`, /field "requestTimeoutMs": a number of ms > 0/],
    [`${good}requestTimeoutMs: soon\n`, /field "requestTimeoutMs": expected number, got string$/],
  ])("names the line and the field of a mistake (%#)", (text, message) => {
    expect(() => parseCluster(text, "/srv/cluster/cluster.yaml")).toThrow(ClusterFileError);
    expect(() => parseCluster(text, "/srv/cluster/cluster.yaml")).toThrow(message);
  });

  it("takes transport: nats (nodes reached by id, files relative to the file) and refuses what NATS cannot carry", () => {
    const nats = `transport:\n  kind: nats\n  servers: [nats://127.0.0.1:4222]\n  name: shop\n  tokenFile: secret/token\n${good.replace(/\n    address: [^\n]+/g, "")}`;
    const c = parseCluster(nats, "/srv/cluster/cluster.yaml");
    expect(c.nodes.map((n) => n.address)).toEqual(["nats:a", "nats:b"]);
    expect(c.transport).toEqual({ kind: "nats", servers: ["nats://127.0.0.1:4222"], name: "shop", tokenFile: "/srv/cluster/secret/token" });
    expect(parseCluster(nats.replace("  name: shop\n", ""), "/c.yaml").transport?.name).toBe("liveswap");
    expect(parseCluster(nats.replace("  name: shop\n", "  name: shop\n  replicas: 3\n"), "/c.yaml").transport?.replicas).toBe(3);
    expect(() => parseCluster(nats.replace("  name: shop\n", "  name: shop\n  replicas: 9\n"), "/c.yaml")).toThrow(/field "transport\.replicas": JetStream keeps at most 5 copies/);
    expect(parseCluster(nats.replace("id: b\n", "id: b\n    address: nats:b\n"), "/c.yaml").nodes[1]?.address).toBe("nats:b");
    expect(() => parseCluster(good.replace("127.0.0.1:7402", "nats:b"), "/c.yaml")).toThrow(/field "nodes\.1\.address": nats:b is an address on NATS, and this file has no `transport: \{ kind: nats/);
    expect(parseCluster(good, "/c.yaml").transport).toBeUndefined();
    expect(parseCluster(`transport: { kind: tcp }\n${good}`, "/c.yaml").transport).toBeUndefined();
    for (const [text, message] of [
      [nats.replace("id: b", "id: b.1"), /field "nodes\.1\.id": "b\.1" cannot name a NATS subject \(the cluster's transport is nats\)/],
      [nats.replace("id: b\n", "id: b\n    address: 127.0.0.1:7402\n"), /field "nodes\.1\.address": the cluster's transport is nats, where node "b" is reached by its id; remove the address/],
      [nats.replace("id: b\n", "id: b\n    listen: 0.0.0.0:7402\n"), /field "nodes\.1\.listen": the cluster's transport is nats/],
      [nats.replace("nats://127.0.0.1:4222", "127.0.0.1:4222"), /field "transport\.servers\.0": a NATS server is nats:\/\/host:port/],
      [nats.replace("servers: [nats://127.0.0.1:4222]", "servers: []"), /field "transport\.servers": list at least one NATS server/],
      [nats.replace("kind: nats", "kind: kafka"), /field "transport\.kind": must say its kind: "tcp" or "nats"/],
      [nats.replace("name: shop", "name: my.shop"), /field "transport\.name": a NATS cluster name is letters/],
      [good.replace("\n    address: 127.0.0.1:7402", ""), /field "nodes\.1\.address": node "b" has no address; give the host:port it listens on/],
    ] as const) {
      expect(() => parseCluster(text, "/c.yaml")).toThrow(message);
    }
  });

  it("takes the outbox bounds (bytes), each optional, and refuses a bad one naming the field", () => {
    expect(parseCluster(good, "/c/cluster.yaml").outbox).toBeUndefined();
    expect(parseCluster(`${good}outbox:\n  memoryBytes: 65536\n`, "/c/cluster.yaml").outbox).toEqual({ memoryBytes: 65536 });
    expect(parseCluster(`${good}outbox: { memoryBytes: 0, diskQuotaBytes: 1048576 }\n`, "/c/cluster.yaml").outbox).toEqual({ memoryBytes: 0, diskQuotaBytes: 1048576 });
    expect(() => parseCluster(`${good}outbox:\n  diskQuotaBytes: 0\n`, "/c/cluster.yaml")).toThrow(/field "outbox\.diskQuotaBytes"/);
    expect(() => parseCluster(`${good}outbox:\n  memoryMB: 4\n`, "/c/cluster.yaml")).toThrow(/field "outbox"/);
  });

  it("takes codec: msgpack (the default) or json, and names anything else with the choices", () => {
    expect(parseCluster(good, "/c.yaml").codec).toBe("msgpack");
    expect(parseCluster(`${good}codec: json\n`, "/c.yaml").codec).toBe("json");
    expect(parseCluster(`${good}codec: msgpack\n`, "/c.yaml").codec).toBe("msgpack");
    expect(() => parseCluster(`${good}codec: protobuf\n`, "/c.yaml")).toThrow(
      /^\/c\.yaml:14:8: field "codec": must be "msgpack" or "json" \(the wire codec every node and ctl of the cluster speaks; default "msgpack"\)/,
    );
    expect(() => parseCluster(`${good}codec: 1\n`, "/c.yaml")).toThrow(/field "codec": must be "msgpack" or "json"/);
  });

  it("takes heartbeat: (either field alone derives the other) and a node's listen: address", () => {
    expect(parseCluster(good, "/c.yaml").heartbeat).toBeUndefined();
    expect(parseCluster(`${good}heartbeat: { intervalMs: 200, suspectAfterMs: 1000 }\n`, "/c.yaml").heartbeat).toEqual({ intervalMs: 200, suspectAfterMs: 1000 });
    expect(parseCluster(`${good}heartbeat: { intervalMs: 2000 }\n`, "/c.yaml").heartbeat).toEqual({ intervalMs: 2000, suspectAfterMs: 10_000 });
    expect(parseCluster(`${good}heartbeat: { suspectAfterMs: 1000 }\n`, "/c.yaml").heartbeat).toEqual({ intervalMs: 200, suspectAfterMs: 1000 });
    const c = parseCluster(good.replace("address: 127.0.0.1:7402", "address: 10.0.0.2:7402\n    listen: 0.0.0.0:7402"), "/c.yaml");
    expect(c.nodes[1]).toMatchObject({ address: "10.0.0.2:7402", listen: "0.0.0.0:7402" });
    expect(c.nodes[0]?.listen).toBeUndefined();
    const d = parseCluster(good.replace("address: 127.0.0.1:7401", "address: 127.0.0.1:7401\n    dial: { b: 127.0.0.1:9402 }"), "/c.yaml");
    expect(d.nodes[0]?.dial).toEqual({ b: "127.0.0.1:9402" });
    expect(d.nodes[1]?.dial).toBeUndefined();
  });

  it.each([
    [`${good}heartbeat: { intervalMs: 1000, suspectAfterMs: 1500 }\n`, /c\.yaml:14:\d+: field "heartbeat\.suspectAfterMs": must be at least twice intervalMs \(2000 ms for an interval of 1000 ms\), not 1500/],
    [`${good}heartbeat: { intervalMs: 5 }\n`, /c\.yaml:14:\d+: field "heartbeat\.intervalMs": must be a whole number of ms from 10 to 60000/],
    [`${good}heartbeat: { intervalMs: "1s" }\n`, /field "heartbeat\.intervalMs"/],
    [`${good}heartbeat: { everyMs: 100 }\n`, /field "heartbeat"/],
    [good.replace("address: 127.0.0.1:7402", "address: 127.0.0.1:7402\n    listen: anywhere"), /field "nodes\.1\.listen": expected host:port/],
    [good.replace("address: 127.0.0.1:7401", "address: 127.0.0.1:7401\n    dial: { c: 127.0.0.1:9402 }"), /field "nodes\.0\.dial\.c": no node "c" in nodes; name a neighbour of "a"/],
    [good.replace("address: 127.0.0.1:7401", "address: 127.0.0.1:7401\n    dial: { b: nowhere }"), /field "nodes\.0\.dial\.b": expected host:port/],
  ])("names a bad heartbeat: or listen: (%#)", (text, message) => {
    expect(() => parseCluster(text, "/c.yaml")).toThrow(ClusterFileError);
    expect(() => parseCluster(text, "/c.yaml")).toThrow(message);
  });

  it("is a LiveswapError with a stable code, and names a file it cannot read", () => {
    const missing = join(import.meta.dirname, "no-such-cluster.yaml");
    let thrown: unknown;
    try {
      loadClusterFile(missing);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ClusterFileError);
    expect(thrown).toBeInstanceOf(LiveswapError);
    expect(thrown).toMatchObject({ code: "CLUSTER_FILE", name: "ClusterFileError" });
    expect((thrown as Error).message).toMatch(/no-such-cluster\.yaml: cannot read it: it does not exist$/);
  });
});

describe("a node's files, checked before its process starts", () => {
  const dir = mkdtempSync(join(tmpdir(), "liveswap-files-"));
  writeFileSync(join(dir, "pkg.ts"), "export const behaviors = {};\n");
  mkdirSync(join(dir, "keys"));
  const file = join(dir, "cluster.yaml");

  it("names the field, the node and the file when its package is missing (or a directory), with no ENOENT", () => {
    const c = parseCluster(good.replace("package: pkg.ts\n    behavior: v1\n  - id: b", "package: pkgs/db.ts\n    behavior: v1\n  - id: b"), file);
    expect(() => checkNodeFiles(c, "b")).not.toThrow();
    expect(() => checkNodeFiles(c, "a")).toThrow(
      new ClusterFileError(`${file}: field "nodes.0.package": node "a": its package ${join(dir, "pkgs/db.ts")} cannot be used: it does not exist (paths are relative to the cluster file)`),
    );
    const asDir = parseCluster(good.replace("package: pkg.ts", "package: keys"), file);
    expect(() => checkNodeFiles(asDir, "a")).toThrow(/field "nodes\.0\.package": node "a": its package .*keys cannot be used: it is a directory, not a file/);
  });

  it("a certificate or key missing, and a node id not in the file (a typo in `ctl create`)", () => {
    const c = parseCluster(`${good.replace("behavior: v1\n  - id: b", "behavior: v1\n    cert: keys/a.crt\n    key: keys/a.key\n  - id: b")}`, file);
    expect(() => checkNodeFiles(c, "a")).toThrow(/field "nodes\.0\.cert": node "a": its certificate .*keys\/a\.crt cannot be used: it does not exist/);
    let thrown: unknown;
    try {
      checkNodeFiles(c, "zz");
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(UnknownClusterNodeError);
    expect(thrown).toMatchObject({ code: "UNKNOWN_NODE" });
    expect((thrown as Error).message).toBe(`start: there is no node "zz" in ${file} (it has: a, b); check the spelling, or add the node to the file`);
  });
});
