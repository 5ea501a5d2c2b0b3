/** The liveswap command: assembles one file per command (src/cli/commands/) and the viewer's `viz`. */
import { Command } from "commander";
import { registerViz } from "../viz/viz-command.js";
import { registerBench } from "./commands/bench.js";
import { registerChaos } from "./commands/chaos.js";
import { registerCheck } from "./commands/check.js";
import { registerCluster } from "./commands/cluster.js";
import { registerCtl } from "./commands/ctl.js";
import { registerDemo } from "./commands/demo.js";
import { registerExplore } from "./commands/explore.js";
import { registerFuzz } from "./commands/fuzz.js";
import { registerKeys } from "./commands/keys.js";
import { registerNode } from "./commands/node.js";
import { registerPack } from "./commands/pack.js";
import { registerRecord } from "./commands/record.js";
import { registerReplay } from "./commands/replay.js";
import type { Out } from "./options.js";
import { registerConsole } from "./commands/console.js";

export function buildProgram(out: Out = (l) => process.stdout.write(`${l}\n`)): Command {
  const program = new Command();
  program.name("liveswap").description("Dynamic update of message-passing systems while they run, with a checker of the paper's invariants");
  // The order is the order of `liveswap --help`.
  registerDemo(program, out);
  registerCheck(program, out);
  registerViz(program, out);
  registerBench(program, out);
  registerFuzz(program, out);
  registerReplay(program, out);
  registerRecord(program, out);
  registerExplore(program, out);
  registerNode(program, out);
  registerCtl(program, out);
  registerCluster(program, out);
  registerChaos(program, out);
  registerConsole(program, out);
  registerPack(program, out);
  registerKeys(program, out);
  return program;
}
