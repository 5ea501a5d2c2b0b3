/**
 * naive: the broken baseline (DESIGN.md). The coordinator tells every node to
 * swap, over the control plane with the network's random delays, and each node
 * swaps on receipt. Nothing controls the application's channels, so old nodes
 * and new nodes execute each other's messages: the paper's correctness
 * requirement (section 3) is broken, and the checker must say so. It exists to
 * be caught, in tests and in the demo.
 */
import type { ControlEnvelope } from "../core/envelope.js";
import { DirectAgent } from "../node/pass-through-agent.js";
import type { CoordinatorPort, NodePort, StrategyModule } from "./strategy.js";
import type { UpdateRun } from "./update-run.js";

class NaiveAgent extends DirectAgent {
  constructor(private readonly port: NodePort) {
    super(port);
  }

  override onControl(env: ControlEnvelope): void {
    if (env.signal !== "swap") return;
    this.port.swap();
    this.port.detach();
  }
}

export const naive: StrategyModule = {
  name: "naive",
  needsConnectedTopology: false,
  startsAtRoot: false,
  unavailable: () => undefined,
  agent: (node) => new NaiveAgent(node),
  start(coordinator: CoordinatorPort, run: UpdateRun): void {
    for (const n of run.nodes) coordinator.send(n, "swap", undefined, true);
  },
};
