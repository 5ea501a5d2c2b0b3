/** `liveswap ctl ...`: the control plane of a live cluster (Conic's configuration manager), one function per subcommand. */
import { readFileSync, writeFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { progressDisplay } from "../../bench/progress.js";
import { checkTrace } from "../../check/checker.js";
import type { BeforeHorizon } from "../../check/violation.js";
import type { TraceCut } from "../../deploy/node-trace.js";
import { toNdjson } from "../../core/trace/ndjson.js";
import type { Strategy } from "../../core/update.js";
import { InvalidOptionError, messageOf } from "../../core/errors.js";
import { ClusterClient, DEFAULT_COMMAND_TIMEOUT_MS, type UpdateProgress } from "../../deploy/cluster-client.js";
import { loadClusterFile } from "../../deploy/cluster-file.js";
import { cancelMove, moveNode } from "../../deploy/cluster-move.js";
import { clusterUp } from "../../deploy/cluster-processes.js";
import { connectCluster, type ClusterConnection, type UpdateView } from "../../deploy/index.js";
import { integer, jsonArg, oneStrategy, type Out } from "../options.js";
import { logFormat, makeLogger } from "../../deploy/logger.js";

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
  ctl.option("--log-format <format>", "text (default; also LIVESWAP_LOG_FORMAT) or json: every line ctl prints, its answers included, becomes a pino record (level info, component ctl)");
  // Each line goes where the chosen format says; the choice is made once the options are read.
  let say: Out = out;
  ctl.hook("preAction", () => {
    const format = logFormat((ctl.opts() as { logFormat?: string }).logFormat ?? process.env.LIVESWAP_LOG_FORMAT ?? "text");
    if (format === "json") {
      const logger = makeLogger({ format, base: { component: "ctl" } });
      say = (line) => logger.info(line);
    }
  });
  out = (line) => say(line);
  registerStatus(ctl, out);
  registerRequest(ctl, out);
  registerLinks(ctl, out);
  registerCreateDestroy(ctl, out);
  registerUpdate(ctl, out);
  registerTrace(ctl, out);
  registerExport(ctl, out);
  registerMove(ctl, out);
}

function registerMove(ctl: Command, out: Out): void {
  ctl
    .command("move")
    .description("move a running node to another address, nothing lost: its record travels, its neighbours follow it, the old location retires; run it again to finish a move that was interrupted")
    .argument("<node>")
    .option("--address <host:port>", "where the node runs from now on")
    .option("--listen <host:port>", "where the destination binds, when it is dialled at --address through a proxy or NAT")
    .option("--store <dir>", "the destination's directory of stores (default: beside the cluster file)")
    .option("--no-start", "do not start the destination here: print the command to start it there, then run this again")
    .option("--cancel", "give up a move whose destination never ran: the node serves where it was again", false)
    .action(async (node: string, o: { address?: string; listen?: string; store?: string; start: boolean; cancel: boolean }, cmd: Command) => {
      const cluster = loadClusterFile(clusterFileOf(cmd));
      if (o.cancel) {
        const c = await cancelMove(cluster, node, { log: out });
        return out(`${node} stays at ${c.at} (location epoch ${c.locationEpoch})`);
      }
      if (o.address === undefined) throw new InvalidOptionError("--address", "where the node moves to is needed (or --cancel to give a move up)");
      const r = await moveNode(cluster, node, { to: o.address, start: o.start, detached: true, ...(o.store !== undefined ? { store: o.store } : {}), ...(o.listen !== undefined ? { listen: o.listen } : {}), log: out });
      out(r.done ? `${node} moved: ${r.from} -> ${r.to} (location epoch ${r.locationEpoch})` : `${node} is moving to ${r.to}: start it there, then run this command again`);
    });
}

/** Write `-o FILE`, or say in words why not (never Node's "ENOENT: no such file or directory, open ..."). */
function writeOut(file: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const why = code === "ENOENT" ? "its directory does not exist" : code === "EACCES" || code === "EPERM" ? "permission denied" : code === "EISDIR" ? "it is a directory" : messageOf(e);
    throw new InvalidOptionError("--out", `cannot write ${file}: ${why}`);
  }
}

function registerExport(ctl: Command, out: Out): void {
  ctl
    .command("export")
    .description("write a node's durable record as a signed file (a copy: the node keeps running); `liveswap node --import` starts a node from it")
    .argument("<node>")
    .requiredOption("-o, --out <file>", "where to write the record")
    .action(async (node: string, o: { out: string }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const f = await c.exportRecord(node);
        writeOut(o.out, `${JSON.stringify(f, null, 2)}\n`);
        out(`wrote ${o.out}: node ${f.node} at ${f.version} (epoch ${f.epoch}), ${f.logEntries} log entries after its snapshot`);
      }),
    );
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
          const nb = n.neighbors.map((x) => `${x.id}${x.suspected === true ? ` (suspected: silent ${((x.silentMs ?? 0) / 1000).toFixed(1)} s)` : x.connected ? "" : " (reconnecting)"}${x.unacked > 0 ? ` [${x.unacked} unacked]` : ""}`).join(", ");
          out(`${n.id.padEnd(10)} ${n.version.padEnd(12)} epoch ${n.epoch}  pid ${n.pid}  neighbours: ${nb || "none"}${n.update ? `  update #${n.update.id} ${n.update.strategy}${n.update.new ? " (new)" : ""}` : ""}`);
        }
        for (const d of s.down) out(`${d.id.padEnd(10)} ${d.code === "NODE_NOT_ANSWERING" ? "NOT ANSWERING" : "DOWN"}: ${d.error}`);
        // The update a node is in: its root (which coordinates it) says how it stands.
        const root = s.up.find((n) => n.update?.root !== undefined)?.update?.root;
        if (root !== undefined) {
          const v = await c.updateView().catch(() => null);
          if (v !== null) out(describeView(v));
        }
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
  ctl
    .command("forget")
    .argument("<id>", "a node lost for good: its process dead (nothing listens at its address), its store gone or abandoned")
    .description("destroy a node lost for good, also during an update: in prepare the update aborts (nothing changed), past it the update goes on without it and every live node drops its link to it; a running node, one that does not answer, and the update's root (ctl takeover) are refused")
    .option("--timeout <ms>", "how long each node has to answer", integer("--timeout", 1), DEFAULT_COMMAND_TIMEOUT_MS)
    .action(async (id: string, o: { timeout: number }, cmd: Command) =>
      withBoundedClient(cmd, o.timeout, async (c) => {
        const r = await c.forget(id);
        const u = r.update;
        if (u === undefined) out(`forgot ${id}: no update had it; its live neighbours unlinked it`);
        else if (u.effect === "aborted") out(`forgot ${id}: update #${u.id} was in prepare and is aborted (no node was changed); submit it again`);
        else out(`forgot ${id}: update #${u.id} (root "${u.root}") goes on without it; its live neighbours dropped their links to it (follow the update with \`ctl watch\`)`);
        out(`  ${r.storeCleared ? "its store is cleared" : r.storeElsewhere !== undefined ? `its store ${r.storeElsewhere} is on its own machine: clear it there` : "it had no store here"}; its trace is kept`);
        if (r.pending.length > 0) {
          out(`  still linked to it: ${r.pending.join(", ")}; ${u?.effect === "goes-on" ? "each drops it when the root's notice reaches it" : `run \`ctl forget ${id}\` again once they are out of the update`}`);
        }
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
    .option("--root <id>", "where the update starts, and the node that coordinates it")
    .option("--deadline <ms>", "prepare's deadline: a node not prepared by then aborts the update (nothing changed)", integer("--deadline", 1), 30_000)
    .option("--detach", "submit and return (the update goes on in the cluster; follow it with `ctl watch`)", false)
    .option("--json", "print the UpdateReport as JSON only", false)
    .description("ship a signed update package; its root coordinates the update, this command follows it (killing it changes nothing)")
    .action(async (pkgFile: string, o: { strategy: Strategy; root?: string; deadline: number; detach: boolean; json: boolean }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const submitted = await c.submitUpdate(readPackage(pkgFile), { strategy: o.strategy, deadlineMs: o.deadline, ...(o.root !== undefined ? { root: o.root } : {}) });
        if (o.detach) return out(o.json ? JSON.stringify(submitted) : `update #${submitted.id} submitted to its root "${submitted.root}"; follow it with \`ctl watch\``);
        if (!o.json) out(`update #${submitted.id} coordinated by "${submitted.root}" (ctl may stop at any time: the update goes on)`);
        out(JSON.stringify(await follow(c, { root: submitted.root, id: submitted.id }, o.json, out), null, o.json ? 0 : 2));
      }),
    );
  ctl
    .command("watch")
    .option("--json", "print the UpdateReport as JSON only", false)
    .description("follow the running update (or the last one) to its end: prepared / new / halted / waiting for a down node")
    .action(async (o: { json: boolean }, cmd: Command) => withClient(cmd, async (c) => out(JSON.stringify(await follow(c, {}, o.json, out), null, o.json ? 0 : 2))));
  ctl
    .command("abort")
    .option("--reason <text>", "recorded with the abort", "ctl abort")
    .description("give the running update up; only while it prepares (no node changed yet)")
    .action(async (o: { reason: string }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const v = await c.abortUpdate(o.reason);
        out(`update #${v.id} aborted in prepare: no node was changed`);
      }),
    );
  ctl
    .command("takeover")
    .requiredOption("--root <node>", "a live node still in the update: it coordinates the update from now on")
    .option("--json", "print the UpdateReport as JSON only", false)
    .description("the running update's root is lost for good (its process dead, its store gone): take the update over at another of its nodes, which forgets the lost root and finishes, restarts or aborts the update from what every node says of its part")
    .action(async (o: { root: string; json: boolean }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const v = await c.takeover(o.root);
        if (!o.json) out(`update #${v.id} (${v.strategy}) taken over at "${o.root}"; following it`);
        out(JSON.stringify(await follow(c, { root: o.root, id: v.id }, o.json, out), null, o.json ? 0 : 2));
      }),
    );
  ctl
    .command("resume")
    .argument("<package>", "the halted update's versions, with a corrected transfer or mapping (`liveswap pack`)")
    .option("--json", "print the UpdateReport as JSON only", false)
    .description("finish a halted update: its halted nodes dry-run the corrected code on their state now and swap")
    .action(async (pkgFile: string, o: { json: boolean }, cmd: Command) =>
      withClient(cmd, async (c) => out(JSON.stringify(await c.resumeUpdate(readPackage(pkgFile), { onProgress: progressPrinter(o.json, out) }), null, o.json ? 0 : 2))),
    );
}

/** A package file's text, or an error naming the path and the fix. */
function readPackage(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new InvalidOptionError("package", `cannot read ${file} (${(e as { code?: string }).code === "ENOENT" ? "no such file" : messageOf(e)}); make one with \`liveswap pack\``);
  }
}

/** Watch an update to its end with a live line of progress; the report, or the update's error. */
async function follow(c: ClusterConnection, which: { readonly root?: string; readonly id?: number }, json: boolean, out: Out): Promise<unknown> {
  const display = json ? undefined : progressDisplay("nodes");
  try {
    // On a terminal the line is redrawn in place; in a log every step gets its own line.
    return await c.watch({ ...which, onProgress: progressPrinter(json, (line) => (display ? display.status(line) : out(line))) });
  } finally {
    display?.end();
  }
}

/** One line per step of the update's progress (redrawn in place on a terminal). */
function progressPrinter(json: boolean, out: Out): (p: UpdateProgress) => void {
  const prepared = new Set<string>();
  const fresh = new Set<string>();
  return (p) => {
    if (json) return;
    if (p.kind === "prepared") prepared.add(p.node);
    if (p.kind === "new") fresh.add(p.node);
    const line =
      p.kind === "halted" || p.kind === "refused" || p.kind === "waiting" || p.kind === "forgotten"
        ? `${p.node} ${p.kind.toUpperCase()}: ${p.detail ?? ""}`
        : `prepared ${prepared.size}  new ${fresh.size}  (${p.kind} ${p.node})`;
    out(line);
  };
}

/** What a trace checked from a horizon left out: said every time, so an "ok" is never read as covering the whole run. */
export function horizonLines(h: TraceCut, before: BeforeHorizon | undefined): string[] {
  const nodes = h.dropped.map((d) => `"${d.node}" dropped ${d.droppedEvents} events (${d.droppedSegments} segments, ${d.droppedBytes} bytes)`);
  const lines = [
    `trace retention: ${nodes.join("; ")}. Checked from the horizon at Lamport time ${h.lc}, where every node's trace is complete; ${h.skipped} retained events before it left out`,
  ];
  if (before !== undefined) lines.push(`  begun before the horizon, not judged: ${before.messages} message(s), ${before.updates} update(s); ${before.deliveries} delivery(ies) at nodes of unknown epoch`);
  return lines;
}

function registerTrace(ctl: Command, out: Out): void {
  ctl
    .command("trace")
    .description("gather every node's trace, merge them in Lamport order, and judge the result")
    .option("-o, --out <file>", "write the merged trace as NDJSON")
    .action(async (o: { out?: string }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const { events: trace, horizon } = await c.traceFromHorizon();
        if (o.out !== undefined) writeOut(o.out, toNdjson(trace));
        const r = checkTrace(trace, { complete: false, ...(horizon !== undefined ? { horizon: true } : {}) });
        out(`${trace.length} events${o.out ? ` written to ${o.out}` : ""}; ${r.violations.length} violation(s)`);
        if (horizon !== undefined) for (const line of horizonLines(horizon, r.beforeHorizon)) out(line);
        for (const v of r.violations.slice(0, 20)) out(`  [${v.invariant}] ${v.message}`);
        if (r.violations.length > 0) process.exitCode = 1;
      }),
    );
}

/** One line of how an update stands, as `ctl status` shows it. */
function describeView(v: UpdateView): string {
  const waiting = v.waiting.length > 0 ? `; waiting for ${v.waiting.join(", ")} (no connection)` : "";
  const halted = v.halted.length > 0 ? `; halted at ${v.halted.map((h) => h.node).join(", ")} (ctl resume PACKAGE)` : "";
  // A forgotten node is no longer counted: the update finishes on the others.
  const forgotten = new Set(v.forgotten ?? []);
  const live = v.nodes.filter((n) => !forgotten.has(n));
  const prepared = v.prepared.filter((n) => !forgotten.has(n)).length;
  const gone = forgotten.size > 0 ? `; forgotten ${[...forgotten].join(", ")} (lost for good)` : "";
  return `update #${v.id} ${v.strategy} at root "${v.root}": ${v.phase}, prepared ${prepared}/${live.length}, new ${v.new.length}/${live.length}${waiting}${halted}${gone}`;
}
