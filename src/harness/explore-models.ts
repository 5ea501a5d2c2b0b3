import type { ExploreModel } from "./explore.js";
import type { System } from "../system.js";
import { relayUpdate, relayV1, type RelayState, type RelayStateV2 } from "./relay.js";

/** Each node sends two messages (in one event: one outside request; hop budget 0), the update starts at any point, from the first node. */
function smallModel(name: string, description: string, links: readonly (readonly [string, string])[]): ExploreModel {
  const nodes = [...new Set(links.flat())].sort();
  return {
    name,
    description,
    root: nodes[0] as string,
    build(sys: System) {
      for (const n of nodes) sys.create(n, relayV1);
      for (const [a, b] of links) sys.link(a, b);
    },
    start(sys: System) {
      for (const n of nodes) {
        const ns = sys.neighbors(n);
        sys.request(n, { kind: "two", token: n, to: [ns[0] as string, ns[1 % ns.length] as string] }).catch(() => undefined);
      }
    },
    update: () => relayUpdate,
    // The relay code only appends to its log and counts: the order of the log cannot change what it does next.
    stateKey(state: unknown) {
      const s = state as Partial<RelayState & RelayStateV2>;
      return [s.received ?? s.count, [...(s.log ?? s.history ?? [])].sort()];
    },
  };
}

export const EXPLORE_MODELS: Readonly<Record<string, ExploreModel>> = {
  line3: smallModel("line3", "3 nodes in a line, each sends two messages, the update from the end at any point", [
    ["a", "b"],
    ["b", "c"],
  ]),
  triangle3: smallModel("triangle3", "3 nodes in a triangle, each sends two messages, the update at any point", [
    ["a", "b"],
    ["b", "c"],
    ["a", "c"],
  ]),
  pair: smallModel("pair", "2 linked nodes, each sends two messages, the update at any point", [["a", "b"]]),
};
