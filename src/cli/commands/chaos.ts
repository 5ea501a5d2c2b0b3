/** `liveswap chaos`: a stream of updates on a real cluster under seeded faults and a client load, then the verdict. */
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { InvalidArgumentError, Option, type Command } from "commander";
import { describeError, InvalidOptionError } from "../../core/errors.js";
import type { Strategy } from "../../core/update.js";
import { closeAllChaosClusters } from "../../chaos/chaos-cluster.js";
import { chaosHtml, chaosJson, chaosMarkdown, verdictRows } from "../../chaos/chaos-report.js";
import { runChaos } from "../../chaos/chaos-run.js";
import { FAULT_KINDS, type ChaosFaultKind } from "../../chaos/schedule.js";
import { integer, oneStrategy, type Out } from "../options.js";

interface ChaosCliOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly updates: number;
  readonly strategy?: Strategy;
  readonly duration: number;
  readonly network: "auto" | "netns" | "loopback";
  readonly faults?: readonly ChaosFaultKind[];
  readonly rate: number;
  readonly moves: number;
  readonly wipeStore?: string;
  readonly dir?: string;
  readonly out: string;
  readonly json: boolean;
}

function faultList(value: string): ChaosFaultKind[] {
  const kinds = value.split(",").map((k) => k.trim()).filter((k) => k !== "");
  for (const k of kinds) if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new InvalidArgumentError(`unknown fault "${k}"; the faults are ${FAULT_KINDS.join(", ")}`);
  return kinds as ChaosFaultKind[];
}

export function registerChaos(program: Command, out: Out): void {
  program
    .command("chaos")
    .description(
      "run the replicated database as real processes (each in its own network namespace when run as root), ship a stream of updates (db@1 -> db@2 -> ...) while seeded faults hit each one (kill -9 and restart, the root included; SIGSTOP; cut links; a node cut from everyone; delay and jitter; kill -9 of ctl) under a client load, then judge the history; exit 1 on any violation",
    )
    .addOption(new Option("--seed <n>", "the seed of the plan (strategies, roots, faults) and of the load").default(1).argParser(integer("--seed", 0)))
    .addOption(new Option("--nodes <n>", "replicas, in a line r0 - r1 - ...").default(5).argParser(integer("--nodes", 2)))
    .addOption(new Option("--updates <n>", "updates in a row").default(3).argParser(integer("--updates", 1)))
    .addOption(new Option("--strategy <name>", "one strategy for every update (naive too: watch the verdict catch it); default a mix of cut, conservative, snapshot and rollback").argParser(oneStrategy))
    .addOption(new Option("--duration <s>", "the run's bound in seconds; an update not completed by then fails the verdict").default(300).argParser(integer("--duration", 10)))
    .addOption(new Option("--network <kind>", "netns (namespaces and tc; needs root), loopback (proxies only), or auto").default("auto").choices(["auto", "netns", "loopback"]))
    .addOption(new Option("--faults <list>", `the fault kinds to draw from (default all): ${FAULT_KINDS.join(",")}`).argParser(faultList))
    .addOption(new Option("--moves <n>", "nodes moved to another host (a spare network namespace, or a new port on loopback) with ctl move under the load, each before a different update; 0: none").default(1).argParser(integer("--moves", 0)))
    .addOption(new Option("--rate <n>", "global reads a second from r0 (local reads and writes: 20 a second at each replica)").default(50).argParser(integer("--rate", 0)))
    .option("--wipe-store <node>", "a deliberately broken run: this node's store is wiped whenever it is killed (the verdict must catch what it loses)")
    .option("--dir <dir>", "keep the run's cluster (file, keys, stores, traces, logs) here (default: a temporary directory, removed)")
    .option("--out <dir>", "where the report goes (chaos-seed-N.md, .html, .json)", "liveswap-chaos")
    .option("--json", "print the JSON summary only", false)
    .action((o: ChaosCliOptions) => chaosCommand(o, out));
}

/** Why a directory cannot be made or written, in words. */
function whyNotWritable(e: unknown): string {
  const code = (e as { code?: unknown } | undefined)?.code;
  if (code === "ENOTDIR" || code === "EEXIST") return "a part of that path is a file, not a directory";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EROFS") return "the file system is read-only";
  if (code === "ENOSPC") return "the disk is full";
  return describeError(e);
}

async function chaosCommand(o: ChaosCliOptions, out: Out): Promise<void> {
  if (o.strategy === "synchronizer") throw new InvalidOptionError("--strategy", "the synchronizer runs in the simulator only; over TCP choose cut, conservative, snapshot, rollback or naive");
  if (o.wipeStore !== undefined && !(/^r\d+$/.test(o.wipeStore) && Number(o.wipeStore.slice(1)) < o.nodes)) {
    throw new InvalidOptionError("--wipe-store", `"${o.wipeStore}" is no node of the run; the nodes are r0 .. r${o.nodes - 1}`);
  }
  // The report is written at the end of a run of minutes: a directory it cannot be written to is said now.
  try {
    mkdirSync(o.out, { recursive: true });
    accessSync(o.out, constants.W_OK);
  } catch (e) {
    throw new InvalidOptionError("--out", `cannot write the report under "${o.out}": ${whyNotWritable(e)}; give a directory you can write to`);
  }
  const dir = o.dir !== undefined ? resolve(o.dir) : mkdtempSync(join(tmpdir(), "liveswap-chaos-"));
  // Interrupted: stop every process, proxy and namespace the run made, then leave as an interrupted command does.
  const interrupted = (signal: NodeJS.Signals): void => {
    out(`${signal}: stopping the run's processes, proxies and namespaces`);
    void closeAllChaosClusters().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    const run = await runChaos({
      seed: o.seed,
      nodes: o.nodes,
      updates: o.updates,
      ...(o.strategy !== undefined ? { strategy: o.strategy } : {}),
      durationMs: o.duration * 1000,
      network: o.network,
      dir,
      ...(o.faults !== undefined ? { faults: o.faults } : {}),
      globalReadsPerSec: o.rate,
      moves: o.moves,
      ...(o.wipeStore !== undefined ? { wipeStoreOf: o.wipeStore } : {}),
      ...(o.json ? {} : { log: (line: string) => out(line) }),
    });
    mkdirSync(o.out, { recursive: true });
    const base = join(o.out, `chaos-seed-${o.seed}`);
    writeFileSync(`${base}.md`, chaosMarkdown(run));
    writeFileSync(`${base}.html`, chaosHtml(run));
    writeFileSync(`${base}.json`, JSON.stringify(chaosJson(run), null, 2));
    if (o.json) out(JSON.stringify(chaosJson(run)));
    else {
      out(run.verdict.ok ? `PASS (seed ${o.seed})` : `FAIL (seed ${o.seed})`);
      for (const [check, result] of verdictRows(run)) out(`  ${check}: ${result}`);
      for (const f of run.verdict.findings) out(`  ! ${f}`);
      out(`report: ${base}.md, ${base}.html, ${base}.json`);
    }
    if (!run.verdict.ok) process.exitCode = 1;
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
    if (o.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
}
