/**
 * The paper's experiment as a scenario for `liveswap fuzz`, `replay` and
 * `explore`: replicated databases on a random connected topology, global reads,
 * writes and local reads at random nodes, the search-key update at a random
 * moment. Its own safety predicate is the paper's: no global read answers null,
 * and the replicas hold the same entries once the run has settled.
 */
import type { Rng } from "../../core/rng.js";
import type { Scenario, ScenarioWorkload } from "../../harness/scenario.js";
import { makeTopology, TOPOLOGY_KINDS } from "../../harness/topologies.js";
import type { System } from "../../index.js";
import { databaseV1, keyFormatUpdate, type DbState } from "./db.js";
import { dbLifetime } from "./lifetime.js";

const ENTRIES = 8;

export const scenario: Scenario = {
  name: "replicated-db",
  description: "replicated databases, search-key update (the paper's experiment) on a random connected topology",
  nodes: { min: 2, max: 7, default: 5 },
  maxRequests: 40,
  updateWindow: 40,
  systemOptions: (strategy) => ({ synchronizer: strategy === "synchronizer" }),
  build(sys, n, rng) {
    const spec = makeTopology(rng.pick(TOPOLOGY_KINDS), n, rng.uint32());
    const v1 = databaseV1(ENTRIES);
    for (const id of spec.nodes) sys.create(id, v1);
    for (const [a, b] of spec.links) sys.link(a, b);
    return spec.nodes;
  },
  update: () => keyFormatUpdate(ENTRIES),
  lifetime: dbLifetime(ENTRIES),
  workload(sys: System, nodes, rng: Rng, requests): ScenarioWorkload {
    const problems: string[] = [];
    const asks: Promise<unknown>[] = [];
    const done = (async () => {
      for (let i = 0; i < requests; i++) {
        await sys.sleep(rng.int(0, 3));
        const at = rng.pick(nodes);
        const entry = rng.int(0, ENTRIES - 1);
        const roll = rng.float();
        if (roll < 0.3) {
          asks.push(
            sys.request<Record<string, string | null>>(at, { kind: "global-read", entry }).then((r) => {
              const missing = Object.entries(r).filter(([, v]) => v === null).map(([n]) => n);
              if (missing.length > 0) problems.push(`global read of entry ${entry} from "${at}" answered null at ${missing.map((m) => `"${m}"`).join(", ")}`);
            }),
          );
        } else if (roll < 0.65) {
          asks.push(sys.request(at, { kind: "write", entry, value: `w${i}` }));
        } else {
          asks.push(sys.request(at, { kind: "read", entry }));
        }
      }
      await Promise.allSettled(asks);
    })();
    return {
      done,
      problems() {
        const states = sys.nodes().map((id) => [id, JSON.stringify((sys.state(id) as DbState).entries)] as const);
        const first = states[0]?.[1];
        const diverged = states.filter(([, s]) => s !== first).map(([id]) => id);
        return diverged.length > 0 ? [...problems, `replicas diverged: ${diverged.map((d) => `"${d}"`).join(", ")} differ from "${states[0]?.[0]}"`] : problems;
      },
    };
  },
};

export default scenario;
