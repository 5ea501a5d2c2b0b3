import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { checkTrace } from "../check/checker.js";
import { dbLoad, quiesce } from "../../test/support/db-load.js";
import { ClusterClient } from "./cluster-client.js";
import { nodeCommand } from "./cluster-processes.js";
import { keysInit } from "./keys.js";
import { startLocalCluster, type LocalCluster } from "./local-cluster.js";
import { segmentDir } from "./node-trace.js";
import { pack } from "./update-package.js";
import { childModule } from "../../test/support/child-tree.js";

/**
 * A 2-node cluster (mutual TLS, traces in files) with each wire codec: load, a cut update whose control messages
 * cross the link and the control plane, `ctl status` and `ctl trace` from the CLI, the NDJSON traces on disk, and a
 * `ctl` whose cluster file names the other codec refused with the reason instead of garbage.
 */
const keys = mkdtempSync(join(tmpdir(), "liveswap-keys-"));
let signedUpdate = "";
let cluster: LocalCluster | undefined;

beforeAll(async () => {
  keysInit(keys, ["r0", "r1"]);
  signedUpdate = JSON.stringify(await pack(resolve(import.meta.dirname, "../scenarios/replicated-db/key-update.ts"), { key: join(keys, "signing.key") }));
}, 120_000);

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

describe.each(["msgpack", "json"] as const)("a 2-node cluster speaking %s", (codec) => {
  it("serves requests, runs an update, answers ctl and streams its trace; a ctl of the other codec is refused, naming both", async () => {
    const pkg = childModule(resolve(import.meta.dirname, "../scenarios/replicated-db/package.ts"));
    cluster = await startLocalCluster({
      nodes: ["r0", "r1"].map((id) => ({ id, package: pkg, behavior: "db-v1", cert: join(keys, `${id}.crt`), key: join(keys, `${id}.key`) })),
      links: [["r0", "r1"]],
      trust: { signingKey: join(keys, "signing.pub") },
      tls: { ca: join(keys, "ca.crt"), control: { cert: join(keys, "control.crt"), key: join(keys, "control.key") } },
      trace: "traces",
      codec,
    });
    expect(cluster.cluster.codec).toBe(codec);
    const client = new ClusterClient(cluster.cluster);
    try {
      const load = dbLoad(client, 2, 1);
      await new Promise((r) => setTimeout(r, 300));
      const report = await client.update(signedUpdate, { strategy: "cut", root: "r1" });
      await load.stop();
      await quiesce(client, 2);
      expect(Object.keys(report.nodes).sort()).toEqual(["r0", "r1"]);
      expect(load.tally.failed).toEqual([]);
      expect(load.tally.nulls).toBe(0);
      const { up } = await client.statusAll();
      expect(up.map((s) => [s.version, s.neighbors[0]?.connected])).toEqual([["db@2", true], ["db@2", true]]);
      const trace = await client.trace();
      expect(trace.filter((e) => e.kind === "deliver").length).toBeGreaterThan(10);
      expect(checkTrace(trace, { complete: true }).violations).toEqual([]);
      // The traces on disk are NDJSON whatever the wire codec.
      const dir = segmentDir(join(cluster.dir, "traces"), "r0");
      const lines = readdirSync(dir).filter((f) => f.endsWith(".ndjson")).flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n").filter((l) => l !== ""));
      expect(lines.length).toBeGreaterThan(0);
      for (const l of lines.slice(0, 50)) expect(() => JSON.parse(l) as unknown).not.toThrow();

      const { cmd, args } = nodeCommand();
      // Not spawnSync: this process's own control session must keep its heartbeats going meanwhile.
      const ctl = (file: string, ...rest: string[]) =>
        new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
          execFile(cmd, [...args, "ctl", "--cluster", file, ...rest], { encoding: "utf8", timeout: 60_000 }, (e, stdout, stderr) => done({ status: e === null ? 0 : typeof e.code === "number" ? e.code : 1, stdout, stderr }));
        });
      const status = await ctl(cluster.cluster.file, "status");
      expect(status.status, status.stderr).toBe(0);
      expect(status.stdout).toMatch(/r0/);
      const traced = await ctl(cluster.cluster.file, "trace");
      expect(traced.stdout).toMatch(/^\d+ events; 0 violation\(s\)/);

      // The same file naming the other codec: ctl is refused at the hello, and says why.
      const other = codec === "msgpack" ? "json" : "msgpack";
      const wrong = join(cluster.dir, "wrong-codec.yaml");
      writeFileSync(wrong, `${readFileSync(cluster.cluster.file, "utf8").replace(/^codec: .*$/m, "")}codec: ${other}\n`);
      const refused = await ctl(wrong, "status", "--timeout", "4000");
      expect(`${refused.stdout}${refused.stderr}`).toMatch(new RegExp(`node "r\\d" speaks the ${codec} wire codec, this process \\(the control plane "ctl-[^"]+"\\) the ${other} codec: both ends of a link must use the same one`));
      // The nodes went on serving.
      expect((await client.status("r0")).neighbors[0]?.connected).toBe(true);
    } catch (e) {
      const logs = join(cluster.dir, ".liveswap-logs");
      for (const f of readdirSync(logs)) process.stderr.write(`--- ${f}\n${readFileSync(join(logs, f), "utf8").slice(-3000)}\n`);
      throw e;
    } finally {
      client.close();
    }
  }, 90_000);
});
