/**
 * The ledger (harness/ledger.ts) as a scenario: numbered messages on a random
 * connected topology, the update ledger@1 -> ledger@2 (same handlers, state
 * and messages carried over), and, in its lifetime (lifetime.ts), any
 * generation under faults. What it checks is delivery: exactly once and in
 * order per channel, and every request run once, whatever crashed.
 */
import type { Rng } from "../../core/rng.js";
import { ledgerUpdate, ledgerV1 } from "../../harness/ledger.js";
import type { Scenario, ScenarioWorkload } from "../../harness/scenario.js";
import { makeTopology, TOPOLOGY_KINDS } from "../../harness/topologies.js";
import type { System } from "../../system.js";
import { handlerFaults } from "../relay/lifetime.js";
import { ledgerLifetime, ledgerProblems, ledgerRequest } from "./lifetime.js";

export const scenario: Scenario = {
  name: "ledger",
  description: "numbered messages per channel (bursts that hop on, timer ticks); ledger@k -> ledger@j keeps state and messages; judged by exactly-once, in-order delivery and requests run once (lifetime: any generation, under faults)",
  nodes: { min: 2, max: 6, default: 4 },
  maxRequests: 30,
  updateWindow: 30,
  systemOptions: (strategy) => ({ synchronizer: strategy === "synchronizer" }),
  build(sys, n, rng) {
    const spec = makeTopology(rng.pick(TOPOLOGY_KINDS), n, rng.uint32());
    for (const id of spec.nodes) sys.create(id, ledgerV1);
    for (const [a, b] of spec.links) sys.link(a, b);
    return spec.nodes;
  },
  update: () => ledgerUpdate,
  lifetime: ledgerLifetime,
  workload(sys: System, nodes, rng: Rng, requests): ScenarioWorkload {
    const failed: string[] = [];
    const done = (async () => {
      const asks: Promise<unknown>[] = [];
      for (let i = 0; i < requests; i++) {
        await sys.sleep(rng.int(0, 3));
        const at = rng.pick(nodes);
        asks.push(sys.request(at, ledgerRequest(rng)).catch((e: unknown) => failed.push(`request ${i} at "${at}": ${String(e)}`)));
      }
      await Promise.all(asks);
    })();
    return { done, problems: () => [...ledgerProblems(sys), ...handlerFaults(sys), ...failed] };
  },
};

export default scenario;
