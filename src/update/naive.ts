/**
 * naive: the broken baseline (docs/design.md). The coordinator tells every node to
 * swap, over the control plane with the network's random delays, and each node
 * swaps on receipt. Nothing controls the application's channels, so old nodes
 * and new nodes execute each other's messages: the paper's correctness
 * requirement (section 3) is broken, and the checker must say so. It exists to
 * be caught, in tests and in the demo.
 */
import type { ControlMessage } from "../core/control.js";
import type { NodePort } from "../node/agent.js";
import { PassThroughAgent } from "../node/pass-through-agent.js";
import type { CoordinatorPort, StrategyModule } from "./strategy.js";

class NaiveAgent extends PassThroughAgent {
  constructor(private readonly port: NodePort) {
    super(port);
  }

  override onControl(msg: ControlMessage): void {
    if (msg.kind === "swap") this.onResume();
  }

  /** Swap; a transfer that threw leaves the node old and armed until a resume retries. */
  onResume(): void {
    if (this.port.swap()) this.port.detach();
  }
}

export const naive: StrategyModule = {
  name: "naive",
  needsConnectedTopology: false,
  startsAtRoot: false,
  unavailable: () => undefined,
  agent: (node) => new NaiveAgent(node),
  coordinator: (port: CoordinatorPort) => ({
    start(): void {
      for (const n of port.liveNodes()) port.send(n, { kind: "swap" }, true);
    },
    // Taken over after some node swapped: the lost coordinator had told every node; tell again those not new.
    adopt(parts): void {
      for (const [n, part] of parts) if (part.prepared && part.newAt === undefined) port.send(n, { kind: "swap" }, true);
    },
  }),
};
