import { readFileSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { STRATEGIES, type Strategy } from "../core/update.js";
import { toNdjson } from "../core/trace/ndjson.js";
import { checkTrace } from "../check/checker.js";
import { loadClusterFile } from "../deploy/cluster-file.js";
import { ClusterClient, type UpdateProgress } from "../deploy/cluster-client.js";
import { clusterDown, clusterUp } from "../deploy/cluster-processes.js";
import { keysInit } from "../deploy/keys.js";
import { NodeDaemon } from "../deploy/node-daemon.js";
import { pack } from "../deploy/update-package.js";

function strategy(value: string): Strategy {
  if (!STRATEGIES.includes(value as Strategy)) throw new InvalidArgumentError(`unknown strategy "${value}"; one of ${STRATEGIES.join(", ")}`);
  return value as Strategy;
}

/** A JSON argument, or a bare word taken as a string. */
function jsonArg(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** The commands of a real deployment: node daemon, control plane, local cluster, packages, keys. */
export function registerDeploy(program: Command, out: (line: string) => void): void {
  program
    .command("node")
    .description("run one node of a cluster in this process (listens on its address, links to its neighbours)")
    .requiredOption("--cluster <file>", "the cluster file (YAML)")
    .requiredOption("--id <id>", "which node of the file this process is")
    .option("--unlinked", "start with no links (as `ctl create` does); `ctl link` adds them", false)
    .action(async (o: { cluster: string; id: string; unlinked: boolean }) => {
      const cluster = loadClusterFile(o.cluster);
      const daemon = await NodeDaemon.start(cluster, o.id, { log: (l) => out(l), onStop: () => process.exit(0), unlinked: o.unlinked });
      const stop = (): void => void daemon.stop();
      process.on("SIGTERM", stop);
      process.on("SIGINT", stop);
      await new Promise(() => undefined); // serve until stopped
    });

  const ctl = program.command("ctl").description("the control plane of a live cluster (Conic's configuration manager)");
  ctl.requiredOption("--cluster <file>", "the cluster file (YAML)");
  const withClient = async <T>(cmd: Command, f: (c: ClusterClient) => Promise<T>): Promise<T> => {
    const file = (cmd.parent?.opts() as { cluster: string }).cluster;
    const client = new ClusterClient(loadClusterFile(file));
    try {
      return await f(client);
    } finally {
      client.close();
    }
  };

  ctl
    .command("status")
    .description("every node's version, neighbours, connections and update")
    .option("--json", "one JSON object", false)
    .action(async (o: { json: boolean }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const s = await c.statusAll();
        if (o.json) return out(JSON.stringify(s));
        for (const n of s.up) {
          const nb = n.neighbors.map((x) => `${x.id}${x.connected ? "" : " (reconnecting)"}${x.unacked > 0 ? ` [${x.unacked} unacked]` : ""}`).join(", ");
          out(`${n.id.padEnd(10)} ${n.version.padEnd(12)} epoch ${n.epoch}  pid ${n.pid}  neighbours: ${nb || "none"}${n.update ? `  update #${n.update.id} ${n.update.strategy}${n.update.new ? " (new)" : ""}` : ""}`);
        }
        for (const d of s.down) out(`${d.id.padEnd(10)} DOWN: ${d.error}`);
      }),
    );

  ctl
    .command("request")
    .description("send an outside request to a node and print its response")
    .argument("<node>")
    .argument("<body>", "the request as JSON")
    .action(async (node: string, body: string, _o: unknown, cmd: Command) => withClient(cmd, async (c) => out(JSON.stringify(await c.request(node, jsonArg(body))))));

  ctl
    .command("link")
    .argument("<a>")
    .argument("<b>")
    .description("link two running nodes")
    .action(async (a: string, b: string, _o: unknown, cmd: Command) => withClient(cmd, async (c) => { await c.link(a, b); out(`linked ${a} - ${b}`); }));

  ctl
    .command("unlink")
    .argument("<a>")
    .argument("<b>")
    .description("unlink two nodes")
    .action(async (a: string, b: string, _o: unknown, cmd: Command) => withClient(cmd, async (c) => { await c.unlink(a, b); out(`unlinked ${a} - ${b}`); }));

  ctl
    .command("create")
    .argument("<id>", "a node of the cluster file that is not running")
    .description("start a node of the file as a local process, with no links (Conic's create); link it with `ctl link`")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const cluster = loadClusterFile((cmd.parent?.opts() as { cluster: string }).cluster);
      await clusterUp(cluster, { only: [id], detached: true, unlinked: true });
      out(`created ${id} (unlinked)`);
    });

  ctl
    .command("destroy")
    .argument("<id>")
    .description("unlink a node from its neighbours and stop it")
    .action(async (id: string, _o: unknown, cmd: Command) => withClient(cmd, async (c) => { await c.destroy(id); out(`destroyed ${id}`); }));

  ctl
    .command("update")
    .argument("<package>", "a package made by `liveswap pack`")
    .addOption(new Option("--strategy <name>", "conservative, cut, snapshot, rollback or naive").default("conservative").argParser(strategy))
    .option("--root <id>", "where the update starts")
    .option("--json", "print the UpdateReport as JSON only", false)
    .description("ship a signed update package and update every running node")
    .action(async (pkgFile: string, o: { strategy: Strategy; root?: string; json: boolean }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const prepared = new Set<string>();
        const fresh = new Set<string>();
        const total = (await c.statusAll()).up.length;
        const tty = process.stderr.isTTY && !o.json;
        const show = (p: UpdateProgress): void => {
          if (p.kind === "prepared") prepared.add(p.node);
          if (p.kind === "new") fresh.add(p.node);
          const line = p.kind === "refused" ? `${p.node} REFUSED: ${p.detail ?? ""}` : `prepared ${prepared.size}/${total}  new ${fresh.size}/${total}  (${p.kind} ${p.node})`;
          if (tty) process.stderr.write(`\r\x1b[2K${line}`);
          else if (!o.json) out(line);
        };
        const report = await c.update(readFileSync(pkgFile, "utf8"), { strategy: o.strategy, ...(o.root !== undefined ? { root: o.root } : {}), onProgress: show });
        if (tty) process.stderr.write("\n");
        out(JSON.stringify(report, null, o.json ? 0 : 2));
      }),
    );

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

  const cluster = program.command("cluster").description("a whole cluster as local processes, for development and tests");
  cluster
    .command("up")
    .argument("<file>", "the cluster file")
    .description("start every node of the file as a local process; returns once all answer")
    .action(async (file: string) => {
      const c = loadClusterFile(file);
      const started = await clusterUp(c, { detached: true });
      out(`up: ${started.map((s) => `${s.id} (pid ${s.pid})`).join(", ")}`);
    });
  cluster
    .command("down")
    .argument("<file>", "the cluster file")
    .description("stop the processes `up` started")
    .action((file: string) => {
      const stopped = clusterDown(loadClusterFile(file));
      out(stopped.length === 0 ? "nothing to stop" : `stopped: ${stopped.join(", ")}`);
    });

  program
    .command("pack")
    .argument("<entry>", "a module exporting `update` (or `behaviors`)")
    .requiredOption("-o, --out <file>", "the package file to write")
    .option("--key <file>", "the Ed25519 signing key (signing.key from `liveswap keys init`); without it the package is unsigned")
    .option("--name <name>", "the package's name (default: the entry's file name)")
    .description("bundle an update module with esbuild and sign its manifest")
    .action(async (entry: string, o: { out: string; key?: string; name?: string }) => {
      const p = await pack(entry, { ...(o.key !== undefined ? { key: o.key } : {}), ...(o.name !== undefined ? { name: o.name } : {}) });
      writeFileSync(o.out, JSON.stringify(p));
      const what = p.manifest.kind === "update" ? `${String(p.manifest.from)} -> ${String(p.manifest.to)}` : `behaviors ${Object.keys(p.manifest.behaviors ?? {}).join(", ")}`;
      out(`${o.out}: ${p.manifest.name} (${what}), sha256 ${p.manifest.sha256.slice(0, 16)}..., ${p.signature ? "signed" : "UNSIGNED"}`);
    });

  const keys = program.command("keys").description("signing keys and TLS certificates");
  keys
    .command("init")
    .argument("<dir>")
    .option("--nodes <ids>", "comma-separated node ids to make certificates for")
    .option("--cluster <file>", "make certificates for every node of this cluster file")
    .option("--force", "replace existing keys", false)
    .description("make the package signing key pair, the cluster CA, and a certificate per node and for the control plane")
    .action((dir: string, o: { nodes?: string; cluster?: string; force: boolean }) => {
      const names = [...(o.nodes?.split(",").map((s) => s.trim()).filter((s) => s !== "") ?? []), ...(o.cluster ? loadClusterFile(o.cluster).nodes.map((n) => n.id) : [])];
      const files = keysInit(dir, names, { force: o.force });
      out(`${dir}: ${files.join(", ")}`);
    });
}
