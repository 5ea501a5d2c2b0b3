/** `liveswap ctl ...`: the control plane of a live cluster (Conic's configuration manager), one function per subcommand. */
import { readFileSync, writeFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { progressDisplay } from "../../bench/progress.js";
import { checkTrace } from "../../check/checker.js";
import { toNdjson } from "../../core/trace/ndjson.js";
import type { Strategy } from "../../core/update.js";
import { ClusterClient, DEFAULT_COMMAND_TIMEOUT_MS, type UpdateProgress } from "../../deploy/cluster-client.js";
import { loadClusterFile } from "../../deploy/cluster-file.js";
import { clusterUp } from "../../deploy/cluster-processes.js";
import { connectCluster, type ClusterConnection } from "../../deploy/index.js";
import { integer, jsonArg, oneStrategy, type Out } from "../options.js";

/** The cluster file given to `ctl` itself (every subcommand shares it). */
function clusterFileOf(cmd: Command): string {
  return (cmd.parent?.opts() as { cluster: string }).cluster;
}

/** The public cluster client (`liveswap/cluster`) for the length of one subcommand: ctl has no client of its own. */
async function withClient<T>(cmd: Command, f: (c: ClusterConnection) => Promise<T>): Promise<T> {
  const client = await connectCluster({ cluster: clusterFileOf(cmd) });
  try {
    return await f(client);
  } finally {
    client.close();
  }
}

export function registerCtl(program: Command, out: Out): void {
  const ctl = program.command("ctl").description("the control plane of a live cluster (Conic's configuration manager)");
  ctl.requiredOption("--cluster <file>", "the cluster file (YAML)");
  registerStatus(ctl, out);
  registerRequest(ctl, out);
  registerLinks(ctl, out);
  registerCreateDestroy(ctl, out);
  registerUpdate(ctl, out);
  registerTrace(ctl, out);
}

function registerStatus(ctl: Command, out: Out): void {
  ctl
    .command("status")
    .description("every node's version, neighbours, connections and update; a node silent past --timeout is shown as not answering")
    .option("--json", "one JSON object", false)
    .option("--timeout <ms>", "how long each node has to answer (all are asked at once)", integer("--timeout", 1), DEFAULT_COMMAND_TIMEOUT_MS)
    .action(async (o: { json: boolean; timeout: number }, cmd: Command) =>
      withBoundedClient(cmd, o.timeout, async (c) => {
        const s = await c.status({ timeoutMs: o.timeout });
        if (o.json) return out(JSON.stringify(s));
        for (const n of s.up) {
          const nb = n.neighbors.map((x) => `${x.id}${x.connected ? "" : " (reconnecting)"}${x.unacked > 0 ? ` [${x.unacked} unacked]` : ""}`).join(", ");
          out(`${n.id.padEnd(10)} ${n.version.padEnd(12)} epoch ${n.epoch}  pid ${n.pid}  neighbours: ${nb || "none"}${n.update ? `  update #${n.update.id} ${n.update.strategy}${n.update.new ? " (new)" : ""}` : ""}`);
        }
        for (const d of s.down) out(`${d.id.padEnd(10)} ${d.code === "NODE_NOT_ANSWERING" ? "NOT ANSWERING" : "DOWN"}: ${d.error}`);
      }),
    );
}

function registerRequest(ctl: Command, out: Out): void {
  ctl
    .command("request")
    .description("send an outside request to a node and print its response")
    .argument("<node>")
    .argument("<body>", "the request as JSON")
    .option("--id <id>", "the request's id (default: a random UUID); the same id again is a retry: it never runs twice")
    .option("--timeout <ms>", "give up after this long, retries included (the request may still run); default: the cluster file's requestTimeoutMs, else 30000", integer("--timeout", 1))
    .action(async (node: string, body: string, o: { id?: string; timeout?: number }, cmd: Command) =>
      withClient(cmd, async (c) => out(JSON.stringify(await c.request(node, jsonArg(body), { ...(o.timeout !== undefined ? { timeoutMs: o.timeout } : {}), ...(o.id !== undefined ? { id: o.id } : {}) })))),
    );
}

function registerLinks(ctl: Command, out: Out): void {
  ctl
    .command("link")
    .argument("<a>")
    .argument("<b>")
    .description("link two running nodes")
    .option("--timeout <ms>", "how long each node has to answer", integer("--timeout", 1), DEFAULT_COMMAND_TIMEOUT_MS)
    .action(async (a: string, b: string, o: { timeout: number }, cmd: Command) => withBoundedClient(cmd, o.timeout, async (c) => { await c.link(a, b); out(`linked ${a} - ${b}`); }));
  ctl
    .command("unlink")
    .argument("<a>")
    .argument("<b>")
    .description("unlink two nodes; with one of them down, the live one unlinks and the other learns it when it restarts")
    .option("--timeout <ms>", "how long each node has to answer", integer("--timeout", 1), DEFAULT_COMMAND_TIMEOUT_MS)
    .action(async (a: string, b: string, o: { timeout: number }, cmd: Command) =>
      withBoundedClient(cmd, o.timeout, async (c) => {
        const { pending } = await c.unlink(a, b);
        out(`unlinked ${a} - ${b}`);
        const durable = loadClusterFile(clusterFileOf(cmd)).storeDir !== undefined;
        for (const p of pending) {
          out(
            durable
              ? `  "${p}" is down: it learns of it when it restarts (its neighbour refuses the link it no longer has)`
              : `  "${p}" is down; the cluster keeps no store, so started again it takes the cluster file's links`,
          );
        }
      }),
    );
}

function registerCreateDestroy(ctl: Command, out: Out): void {
  ctl
    .command("create")
    .argument("<id>", "a node of the cluster file that is not running")
    .description("start a node of the file as a local process, with no links (Conic's create); link it with `ctl link`")
    .option("--timeout <ms>", "how long each node has to answer", integer("--timeout", 1), DEFAULT_COMMAND_TIMEOUT_MS)
    .action(async (id: string, o: { timeout: number }, cmd: Command) => {
      await clusterUp(loadClusterFile(clusterFileOf(cmd)), { only: [id], detached: true, unlinked: true });
      // An old image (a version an update retired) is stopped again at once: it must not rejoin the system.
      const client = new ClusterClient(loadClusterFile(clusterFileOf(cmd)), { commandTimeoutMs: o.timeout });
      try {
        await client.refuseRetired(id);
      } finally {
        client.close();
      }
      out(`created ${id} (unlinked)`);
    });
  ctl
    .command("destroy")
    .argument("<id>")
    .description("unlink a node from its neighbours and stop it; a node that is down is destroyed too (its neighbours unlink it, its local store is cleared)")
    .option("--timeout <ms>", "how long each node has to answer", integer("--timeout", 1), DEFAULT_COMMAND_TIMEOUT_MS)
    .action(async (id: string, o: { timeout: number }, cmd: Command) =>
      withBoundedClient(cmd, o.timeout, async (c) => {
        const r = await c.destroy(id);
        if (!r.down) return out(`destroyed ${id}`);
        out(`destroyed ${id} (it was down: its neighbours unlinked it${r.storeCleared ? ", its store is cleared" : ""}; its trace is kept)`);
        if (r.storeElsewhere !== undefined) out(`  its store ${r.storeElsewhere} is on its own machine: clear it there before creating "${id}" again`);
      }),
    );
}

/** The public client with a bound per node for status and configuration commands (dial included). */
async function withBoundedClient<T>(cmd: Command, commandTimeoutMs: number, f: (c: ClusterConnection) => Promise<T>): Promise<T> {
  const client = await connectCluster({ cluster: clusterFileOf(cmd), commandTimeoutMs });
  try {
    return await f(client);
  } finally {
    client.close();
  }
}

function registerUpdate(ctl: Command, out: Out): void {
  ctl
    .command("update")
    .argument("<package>", "a package made by `liveswap pack`")
    .addOption(new Option("--strategy <name>", "conservative, cut, snapshot, rollback or naive").default("conservative").argParser(oneStrategy))
    .option("--root <id>", "where the update starts")
    .option("--json", "print the UpdateReport as JSON only", false)
    .description("ship a signed update package and update every running node")
    .action(async (pkgFile: string, o: { strategy: Strategy; root?: string; json: boolean }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const prepared = new Set<string>();
        const fresh = new Set<string>();
        const total = (await c.status()).up.length;
        const display = o.json ? undefined : progressDisplay("nodes");
        const show = (p: UpdateProgress): void => {
          if (p.kind === "prepared") prepared.add(p.node);
          if (p.kind === "new") fresh.add(p.node);
          const line = p.kind === "refused" ? `${p.node} REFUSED: ${p.detail ?? ""}` : `prepared ${prepared.size}/${total}  new ${fresh.size}/${total}  (${p.kind} ${p.node})`;
          // On a terminal the line is redrawn in place; in a log every step gets its own line.
          if (display) display.status(line);
          else if (!o.json) out(line);
        };
        const report = await c.update(readFileSync(pkgFile, "utf8"), { strategy: o.strategy, ...(o.root !== undefined ? { root: o.root } : {}), onProgress: show });
        display?.end();
        out(JSON.stringify(report, null, o.json ? 0 : 2));
      }),
    );
}

function registerTrace(ctl: Command, out: Out): void {
  ctl
    .command("trace")
    .description("gather every node's trace, merge them in Lamport order, and judge the result")
    .option("-o, --out <file>", "write the merged trace as NDJSON")
    .action(async (o: { out?: string }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const trace = await c.trace();
        if (o.out !== undefined) writeFileSync(o.out, toNdjson(trace));
        const r = checkTrace(trace, { complete: false });
        out(`${trace.length} events${o.out ? ` written to ${o.out}` : ""}; ${r.violations.length} violation(s)`);
        for (const v of r.violations.slice(0, 20)) out(`  [${v.invariant}] ${v.message}`);
        if (r.violations.length > 0) process.exitCode = 1;
      }),
    );
}
