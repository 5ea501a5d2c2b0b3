/**
 * The mutex scenario's lifetime: Lamport, then Ricart-Agrawala generations
 * forward and back (generations.ts), on a fixed complete graph (the protocol
 * counts every neighbour's grant, so a node joining or leaving mid-run would
 * strand a waiting request: the lifetime draws no reconfiguration here), under
 * client sessions and timer-driven loops issued throughout.
 */
import type { LifetimeSupport } from "../../harness/scenario.js";
import { buildComplete } from "./build.js";
import { MutexLoad } from "./load.js";
import { canUpdateMutex, mutexAt, mutexUpdateBetween } from "./generations.js";

export const mutexLifetime: LifetimeSupport = {
  behaviorsAt: (k) => [mutexAt(k)],
  updates: (from, to) => [mutexUpdateBetween(from, to)],
  canUpdate: canUpdateMutex,
  reconfigure: [],
  build: (sys, n) => buildComplete(sys, n),
  load(sys) {
    const load = new MutexLoad(sys);
    return {
      issue: (node, rng) => load.issue(node, rng),
      async problems() {
        await load.finish();
        return load.problems();
      },
    };
  },
};
