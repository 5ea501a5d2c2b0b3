import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectCluster, NodeUnreachableError, RequestExpiredError, RequestIdReusedError } from "liveswap/cluster";
import { buildProgram } from "../cli/program.js";
import { ClusterClientClosedError } from "./errors.js";
import { ClusterClient } from "./cluster-client.js";
import { keysInit } from "./keys.js";
import { freePort } from "./free-port.js";
import { startLocalCluster, type LocalCluster } from "./local-cluster.js";
import { childModule } from "../../test/support/child-tree.js";

const COUNTER = childModule(resolve(import.meta.dirname, "../../test/support/counter-package.ts"));
const keys = mkdtempSync(join(tmpdir(), "liveswap-keys-"));
let c: LocalCluster;
let client: ClusterClient;
let observer: ClusterClient;

beforeAll(async () => {
  keysInit(keys, ["c0", "c1"]);
  c = await startLocalCluster({
    nodes: ["c0", "c1"].map((id) => ({ id, package: COUNTER, behavior: "counter-v1", cert: join(keys, `${id}.crt`), key: join(keys, `${id}.key`) })),
    links: [["c0", "c1"]],
    tls: { ca: join(keys, "ca.crt"), control: { cert: join(keys, "control.crt"), key: join(keys, "control.key") } },
  });
  client = new ClusterClient(c.cluster);
  observer = new ClusterClient(c.cluster);
}, 120_000);
afterAll(async () => {
  client?.close();
  observer?.close();
  await c?.stop();
});

async function until(test: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 250 && !(await test()); i++) await new Promise((r) => setTimeout(r, 20));
}

describe("idempotent requests over TCP (2 node processes, mutual TLS)", () => {
  it("a request whose connection is cut while it runs is retried under its id, runs once and gets its answer; a retry after the answer gets the recorded one", async () => {
    const answer = client.request("c0", { kind: "add", delayMs: 1000 }, { id: "add-1" });
    await until(async () => (await observer.status("c0")).openRequests === 1);
    expect((await observer.status("c0")).openRequests).toBe(1);
    // The only connection the request went out on closes before its answer exists: the answer comes on the retry's.
    client.dropConnection("c0");
    expect(await answer).toEqual({ count: 1 });
    expect(await observer.request("c0", { kind: "get" })).toBe(1);
    // Answered: the same id again (another connection) gets the recorded answer and does not add again.
    expect(await observer.request("c0", { kind: "add", delayMs: 1000 }, { id: "add-1" })).toEqual({ count: 1 });
    expect(await observer.request("c0", { kind: "get" })).toBe(1);
    const trace = await observer.trace();
    expect(trace.filter((e) => e.kind === "request" && e.request === "add-1")).toHaveLength(1);
    // The same id with another body is another request: refused, not answered with the first one's answer.
    await expect(observer.request("c0", { kind: "get" }, { id: "add-1" })).rejects.toThrow(RequestIdReusedError);
  }, 60_000);

  it("without client retries the cut is the caller's error; the caller's own retry under the same id attaches to the one execution", async () => {
    const once = new ClusterClient(c.cluster, { retry: { attempts: 1 } });
    try {
      const first = once.request("c1", { kind: "add", delayMs: 1000 }, { id: "add-2" });
      await until(async () => (await observer.status("c1")).openRequests === 1);
      once.dropConnection("c1");
      await expect(first).rejects.toThrow(/node "c1" at .* cannot be reached \(the connection closed before the answer.*; 1 attempt over/);
      expect(await once.request("c1", { kind: "add", delayMs: 1000 }, { id: "add-2" })).toEqual({ count: 1 });
      expect(await observer.request("c1", { kind: "get" })).toBe(1);
    } finally {
      once.close();
    }
  }, 60_000);

  it("`liveswap ctl request --id` is the same client: the command run twice runs the request once", async () => {
    const lines: string[] = [];
    const ctl = (): Promise<unknown> =>
      buildProgram((l) => lines.push(l)).parseAsync(["node", "liveswap", "ctl", "--cluster", c.cluster.file, "request", "c0", '{"kind":"add"}', "--id", "cli-1"]);
    await ctl();
    await ctl();
    expect(lines).toEqual(['{"count":2}', '{"count":2}']);
    expect(await observer.request("c0", { kind: "get" })).toBe(2);
  }, 60_000);

  it("a retry of an id the node cannot remember (first sent before the node started) is refused with RequestExpiredError", async () => {
    const retry = client.command("c0", { kind: "request", request: "from-before", body: { kind: "add" }, since: Date.now() - 3_600_000 });
    await expect(retry).rejects.toThrow(RequestExpiredError);
    await expect(retry).rejects.toThrow(/request "from-before" to node "c0": its id is older than the node's retention window \(.*\), so the request may or may not have run/);
    expect(await observer.request("c0", { kind: "get" })).toBe(2);
  }, 60_000);
});

describe("liveswap/cluster against a local cluster", () => {
  it("connects by cluster file or by addresses and TLS material, requests, reports status, and names an unreachable node", async () => {
    const byFile = await connectCluster({ cluster: c.cluster.file });
    expect((await byFile.status()).up.map((s) => [s.id, s.version])).toEqual([["c0", "counter@1"], ["c1", "counter@1"]]);
    expect(await byFile.request("c1", { kind: "add" })).toEqual({ count: 2 });
    byFile.close();
    await expect(byFile.request("c1", { kind: "get" })).rejects.toThrow(ClusterClientClosedError);

    const addresses = Object.fromEntries(c.cluster.nodes.map((n) => [n.id, n.address]));
    // Paths or PEM texts alike.
    const tls = { ca: join(keys, "ca.crt"), cert: join(keys, "control.crt"), key: readFileSync(join(keys, "control.key"), "utf8") };
    const explicit = await connectCluster({ nodes: addresses, tls });
    expect(explicit.nodes.map((n) => n.id)).toEqual(["c0", "c1"]);
    expect(await explicit.request<number>("c1", { kind: "get" })).toBe(2);
    await expect(explicit.request("c9", { kind: "get" })).rejects.toThrow(/^request: there is no node "c9" in the nodes given to connectCluster \(it has: c0, c1\); check the spelling/);
    explicit.close();

    const port = await freePort();
    const nowhere = await connectCluster({ nodes: { gone: `127.0.0.1:${port}` }, retry: { attempts: 3, backoffMs: 10 } });
    const failed = nowhere.request("gone", { kind: "get" });
    await expect(failed).rejects.toThrow(NodeUnreachableError);
    const message = String(await failed.catch((e: unknown) => (e as Error).message));
    expect(message).toMatch(new RegExp(`^node "gone" at 127\\.0\\.0\\.1:${port} cannot be reached \\(nothing listens there: connection refused; 3 attempts over \\d+ ms\\)\\. Check that it is running`));
    expect(message).not.toMatch(/ECONNREFUSED/);
    nowhere.close();
  }, 60_000);
});
