import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LiveswapError } from "../core/errors.js";
import { ClusterFileError, linkIncarnations, loadClusterFile, parseCluster } from "./cluster-file.js";

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
  ])("names the line and the field of a mistake (%#)", (text, message) => {
    expect(() => parseCluster(text, "/srv/cluster/cluster.yaml")).toThrow(ClusterFileError);
    expect(() => parseCluster(text, "/srv/cluster/cluster.yaml")).toThrow(message);
  });

  it("takes the outbox bounds (bytes), each optional, and refuses a bad one naming the field", () => {
    expect(parseCluster(good, "/c/cluster.yaml").outbox).toBeUndefined();
    expect(parseCluster(`${good}outbox:\n  memoryBytes: 65536\n`, "/c/cluster.yaml").outbox).toEqual({ memoryBytes: 65536 });
    expect(parseCluster(`${good}outbox: { memoryBytes: 0, diskQuotaBytes: 1048576 }\n`, "/c/cluster.yaml").outbox).toEqual({ memoryBytes: 0, diskQuotaBytes: 1048576 });
    expect(() => parseCluster(`${good}outbox:\n  diskQuotaBytes: 0\n`, "/c/cluster.yaml")).toThrow(/field "outbox\.diskQuotaBytes"/);
    expect(() => parseCluster(`${good}outbox:\n  memoryMB: 4\n`, "/c/cluster.yaml")).toThrow(/field "outbox"/);
  });

  it("takes heartbeat: (either field alone derives the other) and a node's listen: address", () => {
    expect(parseCluster(good, "/c.yaml").heartbeat).toBeUndefined();
    expect(parseCluster(`${good}heartbeat: { intervalMs: 200, suspectAfterMs: 1000 }\n`, "/c.yaml").heartbeat).toEqual({ intervalMs: 200, suspectAfterMs: 1000 });
    expect(parseCluster(`${good}heartbeat: { intervalMs: 2000 }\n`, "/c.yaml").heartbeat).toEqual({ intervalMs: 2000, suspectAfterMs: 10_000 });
    expect(parseCluster(`${good}heartbeat: { suspectAfterMs: 1000 }\n`, "/c.yaml").heartbeat).toEqual({ intervalMs: 200, suspectAfterMs: 1000 });
    const c = parseCluster(good.replace("address: 127.0.0.1:7402", "address: 10.0.0.2:7402\n    listen: 0.0.0.0:7402"), "/c.yaml");
    expect(c.nodes[1]).toMatchObject({ address: "10.0.0.2:7402", listen: "0.0.0.0:7402" });
    expect(c.nodes[0]?.listen).toBeUndefined();
  });

  it.each([
    [`${good}heartbeat: { intervalMs: 1000, suspectAfterMs: 1500 }\n`, /c\.yaml:14:\d+: field "heartbeat\.suspectAfterMs": must be at least twice intervalMs \(2000 ms for an interval of 1000 ms\), not 1500/],
    [`${good}heartbeat: { intervalMs: 5 }\n`, /c\.yaml:14:\d+: field "heartbeat\.intervalMs": must be a whole number of ms from 10 to 60000/],
    [`${good}heartbeat: { intervalMs: "1s" }\n`, /field "heartbeat\.intervalMs"/],
    [`${good}heartbeat: { everyMs: 100 }\n`, /field "heartbeat"/],
    [good.replace("address: 127.0.0.1:7402", "address: 127.0.0.1:7402\n    listen: anywhere"), /field "nodes\.1\.listen": expected host:port/],
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
    expect((thrown as Error).message).toMatch(/no-such-cluster\.yaml: cannot read it \(Error: ENOENT/);
  });
});
