import { readFileSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDbCluster, type TestCluster } from "../../test/support/db-cluster.js";
import { dbLoad, quiesce } from "../../test/support/db-load.js";
import { dbPackagePaths, packDbPackages } from "../../test/support/db-packages.js";
import { ClusterClient } from "./cluster-client.js";

const IDS = ["r0", "r1", "r2"];
const packages = dbPackagePaths();
const TOKEN = "0123456789abcdef0123456789abcdef";
let cluster: TestCluster | undefined;

beforeAll(async () => {
  await packDbPackages(packages, IDS);
  writeFileSync(join(packages.keys, "metrics.token"), `${TOKEN}\n`);
  cluster = await startDbCluster({ nodes: 3, keys: packages.keys, store: true, metrics: true, metricsAccess: { tokenFile: join(packages.keys, "metrics.token"), clientCert: true }, env: { LIVESWAP_LOG_FORMAT: "json" } });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

interface Scrape {
  readonly status: number;
  readonly text: string;
}

/** GET /metrics of a node over HTTPS (its certificate is the cluster CA's), with the token or the control certificate. */
function scrape(node: string, how: { readonly token?: string; readonly clientCert?: boolean }): Promise<Scrape> {
  const c = (cluster as TestCluster).cluster;
  const at = c.nodes.find((n) => n.id === node)?.metrics as string;
  const [host, port] = [at.slice(0, at.lastIndexOf(":")), Number(at.slice(at.lastIndexOf(":") + 1))];
  const tls = c.tls as { ca: string; control: { cert: string; key: string } };
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host,
        port,
        path: "/metrics",
        ca: readFileSync(tls.ca),
        checkServerIdentity: () => undefined,
        ...(how.token !== undefined ? { headers: { authorization: `Bearer ${how.token}` } } : {}),
        ...(how.clientCert === true ? { cert: readFileSync(tls.control.cert), key: readFileSync(tls.control.key) } : {}),
      },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => void (text += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** The samples of the exposition text: `name{labels} value` lines, comments left out. */
function samples(text: string): { readonly name: string; readonly labels: Readonly<Record<string, string>>; readonly value: number }[] {
  return text
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(l);
      if (m === null) throw new Error(`not an exposition line: ${l}`);
      const labels = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1] as string, x[2] as string]));
      return { name: m[1] as string, labels, value: Number(m[3]) };
    });
}

const value = (text: string, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined =>
  samples(text).find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

const phaseOf = (text: string): string | undefined => samples(text).find((s) => s.name === "liveswap_update_phase" && s.value === 1)?.labels.phase;

describe("a node's structured log (LIVESWAP_LOG_FORMAT=json)", () => {
  it("is one JSON record a line, with level, time, the node and the message, separate from the trace", () => {
    const c = cluster as TestCluster;
    const lines = readFileSync(join(c.dir, ".liveswap-logs", "r0.log"), "utf8").trim().split("\n");
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.find((r) => typeof r.msg === "string" && r.msg.includes("listening on"))).toMatchObject({ level: 30, node: "r0", component: "node" });
    expect(records.find((r) => typeof r.msg === "string" && r.msg.includes("metrics at https://"))).toMatchObject({ level: 30, node: "r0" });
    expect(records.every((r) => typeof r.time === "string" && typeof r.pid === "number")).toBe(true);
  });
});

describe("a node's Prometheus metrics", () => {
  it("are refused without the token or a client certificate of the cluster's CA, and served with either", async () => {
    expect((await scrape("r0", {})).status).toBe(401);
    expect((await scrape("r0", { token: "not-the-token-not-the-token" })).status).toBe(401);
    const byToken = await scrape("r0", { token: TOKEN });
    expect(byToken.status).toBe(200);
    expect(value(byToken.text, "liveswap_node_info", { node: "r0", version: "db@1" })).toBe(1);
    expect((await scrape("r0", { clientCert: true })).status).toBe(200);
  });

  it("show the node's phase change during an update (idle, then prepared or new, then idle), its channels' traffic and the swap pause", async () => {
    const c = cluster as TestCluster;
    const client = new ClusterClient(c.cluster, { retry: { attempts: 200, backoffMs: 20, maxBackoffMs: 200 }, requestTimeoutMs: 60_000 });
    try {
      const load = dbLoad(client, 3, 3, 5);
      await new Promise((r) => setTimeout(r, 300));
      expect(phaseOf((await scrape("r1", { token: TOKEN })).text)).toBe("idle");
      const seen: string[] = [];
      let polling = true;
      const poll = (async () => {
        while (polling) {
          const p = phaseOf((await scrape("r1", { token: TOKEN })).text);
          if (p !== undefined && seen.at(-1) !== p) seen.push(p);
          await new Promise((r) => setTimeout(r, 2));
        }
      })();
      // Conservative holds r1 old until its parent turned new: a phase long enough to be scraped.
      await client.update(readFileSync(packages.up, "utf8"), { strategy: "conservative", root: "r0" });
      await new Promise((r) => setTimeout(r, 200));
      polling = false;
      await poll;
      await load.stop();
      await quiesce(client, 3);
      expect(seen[0]).toBe("idle");
      expect(seen.at(-1)).toBe("idle");
      expect(seen.some((p) => p === "prepared" || p === "new")).toBe(true);
      const after = (await scrape("r1", { token: TOKEN })).text;
      expect(value(after, "liveswap_node_info", { version: "db@2" })).toBe(1);
      expect(value(after, "liveswap_node_epoch")).toBe(1);
      expect(value(after, "liveswap_update_parts")).toBe(1);
      expect(value(after, "liveswap_swap_pause_seconds_count")).toBe(1);
      expect(value(after, "liveswap_channel_sent_messages", { peer: "r0" })).toBeGreaterThan(0);
      expect(value(after, "liveswap_channel_received_messages", { peer: "r2" })).toBeGreaterThan(0);
      expect(value(after, "liveswap_peer_connected", { peer: "r2" })).toBe(1);
      expect(value(after, "liveswap_store_commits")).toBeGreaterThan(0);
      expect(value(after, "liveswap_requests_settled_total")).toBeGreaterThan(0);
      expect(value(after, "liveswap_update_buffered_messages_total")).toBeGreaterThanOrEqual(0);
      expect(value(after, "liveswap_update_held_messages_total")).toBeGreaterThanOrEqual(0);
      // The root's coordinator says how its update ended.
      expect(phaseOf((await scrape("r0", { token: TOKEN })).text)).toBe("idle");
      expect(value((await scrape("r0", { token: TOKEN })).text, "liveswap_coordinator_phase", { phase: "completed" })).toBe(1);
    } finally {
      client.close();
    }
  }, 180_000);
});
