/**
 * The mutex example as a scenario for `liveswap fuzz` and `replay`: a complete
 * graph of 2..5 mutex@1 (Lamport) nodes, acquire/release client sessions and
 * timer-driven loops at random nodes, and the update to mutex@2
 * (Ricart-Agrawala, `mutexUpdate`) at whatever moment the fuzzer draws.
 *
 * Its own safety predicate is the mutex checker of `safety.ts` over the trace
 * and the final states (never two nodes in the CS, every request answered,
 * every session released, every loop finished), plus what the clients saw
 * fail (a request rejected or never answered).
 *
 * Determinism: the whole load is drawn from `rng` while it is issued, and
 * every step of it awaits the system only, so a run is a function of its
 * parameters. Every request gives up after REQUEST_TIMEOUT virtual ms (a
 * system option), so the load always ends, and a client never awaits
 * anything that could reject unhandled.
 */
import type { Scenario, ScenarioWorkload } from "../../harness/scenario.js";
import type { Rng } from "../../core/rng.js";
import type { System } from "../../index.js";
import { mutexUpdate } from "./mutex.js";
import { buildComplete } from "./build.js";
import { mutexLifetime } from "./lifetime.js";
import { MutexLoad, REQUEST_TIMEOUT } from "./load.js";

export { REQUEST_TIMEOUT };

export const scenario: Scenario = {
  name: "mutex",
  description: "Lamport's mutual exclusion (mutex@1) updated to Ricart-Agrawala (mutex@2) on a complete graph, under acquire/release clients and timer-driven loops",
  nodes: { min: 2, max: 5, default: 4 },
  maxRequests: 30,
  updateWindow: 60,
  systemOptions: (strategy) => ({ requestTimeout: REQUEST_TIMEOUT, synchronizer: strategy === "synchronizer" }),
  build: (sys, n) => buildComplete(sys, n),
  update: () => mutexUpdate,
  lifetime: mutexLifetime,
  workload(sys: System, nodes, rng: Rng, requests): ScenarioWorkload {
    const load = new MutexLoad(sys);
    const done = load.run(nodes, rng, requests);
    return {
      done,
      problems() {
        return load.problems();
      },
    };
  },
};

export default scenario;
