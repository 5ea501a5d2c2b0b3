/**
 * The relay of the tests as a scenario: hop-limited tokens on a random
 * connected topology. The single update is relay@1 -> relay@2 (relay.ts,
 * whose v2 cannot read a v1 message: an old message reaching a new node is a
 * handler fault). Its lifetime (lifetime.ts) runs two families side by side
 * through any number of generations, under every kind of reconfiguration.
 *
 * Safety: no handler fault (a message of the wrong version), every request
 * answered.
 */
import type { Rng } from "../../core/rng.js";
import { relayUpdate, relayV1 } from "../../harness/relay.js";
import type { Scenario, ScenarioWorkload } from "../../harness/scenario.js";
import { makeTopology, TOPOLOGY_KINDS } from "../../harness/topologies.js";
import type { System } from "../../system.js";
import { handlerFaults, relayLifetime } from "./lifetime.js";

export const scenario: Scenario = {
  name: "relay",
  description: "hop-limited tokens on a random connected topology; relay@1 -> relay@2 renames every message field (lifetime: two families, any generation)",
  nodes: { min: 2, max: 7, default: 5 },
  maxRequests: 30,
  updateWindow: 30,
  systemOptions: (strategy) => ({ synchronizer: strategy === "synchronizer" }),
  build(sys, n, rng) {
    const spec = makeTopology(rng.pick(TOPOLOGY_KINDS), n, rng.uint32());
    for (const id of spec.nodes) sys.create(id, relayV1);
    for (const [a, b] of spec.links) sys.link(a, b);
    return spec.nodes;
  },
  update: () => relayUpdate,
  lifetime: relayLifetime,
  workload(sys: System, nodes, rng: Rng, requests): ScenarioWorkload {
    const failed: string[] = [];
    const done = (async () => {
      const asks: Promise<unknown>[] = [];
      for (let i = 0; i < requests; i++) {
        await sys.sleep(rng.int(0, 3));
        const at = rng.pick(nodes);
        asks.push(sys.request(at, { kind: "send", token: `t${i}`, hops: rng.int(0, 6) }).catch((e: unknown) => failed.push(`request ${i} at "${at}": ${String(e)}`)));
      }
      await Promise.all(asks);
    })();
    return { done, problems: () => [...handlerFaults(sys), ...failed] };
  },
};

export default scenario;
