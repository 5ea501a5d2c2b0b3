import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect, type StreamInfo } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDbCluster, type TestCluster } from "../../test/support/db-cluster.js";
import { expectCleanRun } from "../../test/support/db-clean.js";
import { dbLoad } from "../../test/support/db-load.js";
import { natsClusterForTests } from "../../test/support/nats-server.js";
import { ClusterClient } from "./cluster-client.js";
import { keysInit } from "./keys.js";
import { pack } from "./update-package.js";

/**
 * The replicated database over a NATS cluster of three servers (routed to each other, clustered JetStream, the stream
 * kept in three copies), as a deployment across hosts runs it, here on loopback. A server lost mid-update is one
 * server lost: the processes connected to it move to the others, the stream keeps its quorum, nothing is lost.
 */
const NODES = 5;
const SERVERS = 3;
const nats = natsClusterForTests(SERVERS);
const missing = nats.missing;
const keys = mkdtempSync(join(tmpdir(), "liveswap-keys-"));
let cluster: TestCluster | undefined;

describe.skipIf(missing !== undefined)(`${NODES} OS processes over a cluster of ${SERVERS} NATS servers${missing !== undefined ? ` (skipped: ${missing})` : ""}`, () => {
  let signedUpdate = "";
  let backOut = "";
  beforeAll(async () => {
    keysInit(keys, Array.from({ length: NODES }, (_, i) => `r${i}`));
    signedUpdate = JSON.stringify(await pack(resolve(import.meta.dirname, "../scenarios/replicated-db/key-update.ts"), { key: join(keys, "signing.key") }));
    backOut = JSON.stringify(await pack(resolve(import.meta.dirname, "../../test/support/db-backout-update.ts"), { key: join(keys, "signing.key") }));
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it("a server stopped mid-update, then another during the back-out: every process moves to the servers left, both updates complete, nothing lost; the stream holds 3 copies", async () => {
    const servers = nats.cluster();
    const name = "cl1";
    const c = await startDbCluster({ nodes: NODES, keys, store: true, traceFiles: true, nats: { url: servers.urls, name, replicas: SERVERS } });
    cluster = c;
    const client = new ClusterClient(c.cluster, { retry: { attempts: 400, backoffMs: 50, maxBackoffMs: 500 }, requestTimeoutMs: 120_000 });
    try {
      // Each update under load, with server `lost` stopped when the first node turns new and started again after.
      const updateLosing = async (pkg: string, strategy: "conservative" | "cut", root: string, lost: number, seed: number, version: string): Promise<void> => {
        const load = dbLoad(client, NODES, seed);
        await new Promise((r) => setTimeout(r, 300));
        let stopped: Promise<void> | undefined;
        const server = servers.servers[lost];
        if (server === undefined) throw new Error(`no server ${lost}`);
        const report = await client.update(pkg, { strategy, root, onProgress: (p) => void (p.kind === "new" && (stopped ??= server.stop())) });
        await stopped;
        expect(stopped).toBeDefined();
        await new Promise((r) => setTimeout(r, 300));
        await load.stop();
        await expectCleanRun(client, NODES, load.tally, report, version);
        await server.start();
        // Back in the cluster only once it caught up with the stream: then the next server may go.
        await streamCurrent(servers.urls, name);
      };
      await updateLosing(signedUpdate, "conservative", `r${NODES - 1}`, 0, 31, "db@2");
      await updateLosing(backOut, "cut", "r0", 1, 32, "db@1");
      const info = await streamCurrent(servers.urls, name);
      expect(info.config.num_replicas).toBe(SERVERS);
    } finally {
      client.close();
    }
  }, 300_000);
});

/** The cluster's stream once it has a leader and every other copy is current (30 s at most). */
async function streamCurrent(urls: readonly string[], name: string): Promise<StreamInfo> {
  const nc = await connect({ servers: [...urls] });
  try {
    let last = "";
    for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
      try {
        const info = await (await nc.jetstreamManager({ timeout: 2_000 })).streams.info(`LIVESWAP_${name}`);
        const copies = info.cluster?.replicas ?? [];
        last = `leader ${info.cluster?.leader ?? "none"}, copies ${JSON.stringify(copies.map((r) => [r.name, r.current, r.offline ?? false]))}`;
        if (info.cluster?.leader !== undefined && copies.length === SERVERS - 1 && copies.every((r) => r.current && r.offline !== true)) return info;
      } catch (e) {
        last = String(e);
      }
    }
    throw new Error(`the stream LIVESWAP_${name} did not have ${SERVERS} current copies within 30 s (${last})`);
  } finally {
    await nc.close();
  }
}
