import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterClient } from "./cluster-client.js";
import { nodeCommand } from "./cluster-processes.js";
import { freePort } from "./free-port.js";
import { startLocalCluster, type LocalCluster } from "./local-cluster.js";
import { childModule } from "../../test/support/child-tree.js";

const pkg = childModule(resolve(import.meta.dirname, "../scenarios/replicated-db/package.ts"));

/** A one-node cluster file on a free port. */
async function oneNodeCluster(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "liveswap-failpoints-"));
  const file = join(dir, "cluster.yaml");
  writeFileSync(file, stringify({ nodes: [{ id: "n0", address: `127.0.0.1:${await freePort()}`, package: pkg, behavior: "db-v1" }], links: [] }));
  return file;
}

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `liveswap node` with LIVESWAP_FAILPOINTS=`spec`, until it exits, or until `stopWhen` holds of its output (then
 * SIGTERM, and its exit is awaited too).
 */
async function runNode(spec: string, stopWhen?: (out: { stdout: string; stderr: string }) => boolean): Promise<Run> {
  const { cmd, args } = nodeCommand(pkg.endsWith(".ts"));
  const child = spawn(cmd, [...args, "node", "--cluster", await oneNodeCluster(), "--id", "n0"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LIVESWAP_FAILPOINTS: spec },
  });
  const out = { stdout: "", stderr: "" };
  const check = (): void => {
    if (stopWhen?.(out) === true && child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  };
  child.stdout.on("data", (b: Buffer) => void ((out.stdout += b.toString()), check()));
  child.stderr.on("data", (b: Buffer) => void ((out.stderr += b.toString()), check()));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once("close", (c, s) => r([c, s])));
  return { code, signal, ...out };
}

describe("failpoints in a `liveswap node` process", () => {
  it("crash at daemon.after-load: the process dies by SIGKILL there, before it listens", async () => {
    const run = await runNode("daemon.after-load=crash");
    expect(run.signal).toBe("SIGKILL");
    expect(run.code).toBeNull();
    expect(run.stdout).toContain("failpoints set (LIVESWAP_FAILPOINTS): daemon.after-load=crash");
    expect(run.stderr).toContain("failpoint daemon.after-load: crash (SIGKILL)");
    expect(run.stdout).not.toContain("listening");
  }, 60_000);

  it("print at daemon.after-load: the point is passed (on stderr) before the node listens, and the node runs on", async () => {
    const run = await runNode("daemon.after-load=print", (o) => o.stdout.includes("listening"));
    expect(run.stderr).toBe("failpoint daemon.after-load\n");
    expect(run.stdout).toMatch(/node "n0" \(db@1\) listening on 127\.0\.0\.1:\d+/);
    expect(run.signal).not.toBe("SIGKILL"); // stopped by the test's SIGTERM
  }, 60_000);

  it("a bad spec is refused at startup: exit code 2, one line naming the spec and the grammar, no stack", async () => {
    const run = await runNode("daemon.after-lod=crash");
    expect([run.code, run.signal]).toEqual([2, null]);
    expect(run.stderr).toMatch(/^liveswap: LIVESWAP_FAILPOINTS "daemon.after-lod=crash": no failpoint is named "daemon.after-lod" \(known: daemon.after-load, .*\); write point=action\[@n\]/);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stdout).toBe("");
  }, 60_000);
});

describe("a protocol step in live processes: a severed link reconnects through tcp.reconnect", () => {
  let c: LocalCluster;
  beforeAll(async () => {
    c = await startLocalCluster({
      nodes: ["a", "b"].map((id) => ({ id, package: pkg, behavior: "db-v1" })),
      links: [["a", "b"]],
      env: { LIVESWAP_FAILPOINTS: "tcp.reconnect=print" },
    });
  }, 120_000);
  afterAll(async () => {
    await c?.stop();
  });

  it("both ends pass the point once the link is back, and not before", async () => {
    const log = (id: string): string => readFileSync(join(c.dir, ".liveswap-logs", `${id}.log`), "utf8");
    const client = new ClusterClient(c.cluster);
    try {
      for (let i = 0; i < 100 && !(await client.status("a")).neighbors.every((n) => n.connected); i++) await new Promise((r) => setTimeout(r, 20));
      expect(log("a")).not.toContain("failpoint tcp.reconnect");
      await client.sever("a");
      for (let i = 0; i < 200 && !["a", "b"].every((id) => log(id).includes("failpoint tcp.reconnect")); i++) await new Promise((r) => setTimeout(r, 20));
      expect(log("a")).toContain("failpoint tcp.reconnect\n");
      expect(log("b")).toContain("failpoint tcp.reconnect\n");
      expect(await client.request("a", { kind: "global-read", entry: 1 })).toEqual({ a: "v1", b: "v1" });
    } finally {
      client.close();
    }
  }, 60_000);
});
