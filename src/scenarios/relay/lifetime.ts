/**
 * The relay's lifetime: families "a" and "b" (relay-generations.ts) on a
 * random connected topology, updated together through any generation,
 * forward or back, under every kind of reconfiguration (a token simply dies
 * on a removed link: the relay has no state that spans nodes).
 *
 * Safety: no node ever met a message of another generation, no handler
 * fault, every request answered (or failed because its node was destroyed).
 */
import type { LifetimeLoad, LifetimeSupport } from "../../harness/scenario.js";
import { makeTopology, TOPOLOGY_KINDS } from "../../harness/topologies.js";
import { RELAY_FAMILIES, relayAt, relayGenerationUpdate, type RelayGenState } from "../../harness/relay-generations.js";
import type { System } from "../../system.js";

/** Handler faults in the trace (a transfer the fuzzer made throw is its own business, not the application's). */
export function handlerFaults(sys: System): string[] {
  return sys
    .trace()
    .flatMap((e) => (e.kind === "fault" && (e.during === "receive" || e.during === "request" || e.during === "timer") ? [`fault at "${e.node}" during ${e.during} at ${e.t} ms: ${e.error}`] : []));
}

export const relayLifetime: LifetimeSupport = {
  behaviorsAt: (k) => RELAY_FAMILIES.map((f) => relayAt(f, k)),
  updates: (from, to) => RELAY_FAMILIES.map((f) => relayGenerationUpdate(f, from, to)),
  canUpdate: (from, to) => from !== to && to >= 1,
  reconfigure: ["create", "link", "unlink", "destroy"],
  build(sys, n, rng) {
    const spec = makeTopology(rng.pick(TOPOLOGY_KINDS), n, rng.uint32());
    spec.nodes.forEach((id, i) => sys.create(id, relayAt(RELAY_FAMILIES[i % RELAY_FAMILIES.length] as string, 1)));
    for (const [a, b] of spec.links) sys.link(a, b);
    return spec.nodes;
  },
  load: (sys) => relayLoad(sys),
};

function relayLoad(sys: System): LifetimeLoad {
  const failed: string[] = [];
  const asks: Promise<unknown>[] = [];
  return {
    issue(at, rng) {
      const token = `t${asks.length}`;
      const req = rng.float() < 0.8 ? { kind: "send", token, hops: rng.int(0, 6) } : { kind: "count" };
      asks.push(
        sys.request(at, req).catch((e: unknown) => {
          // A request whose node a destroy step removed fails by design.
          if (!(e instanceof Error && e.name === "RequestFailedError" && /destroyed/.test(e.message))) failed.push(`request ${token} at "${at}": ${String(e)}`);
        }),
      );
    },
    async problems() {
      await Promise.all(asks);
      const mixups = sys.nodes().flatMap((id) => (sys.state(id) as RelayGenState).mixups.map((m) => `mix-up at "${id}": ${m}`));
      return [...mixups, ...handlerFaults(sys), ...failed];
    },
  };
}
