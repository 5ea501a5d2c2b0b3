import type { ExploreAction, ExploreModel } from "./explore.js";
import { relayAt, relayGenerationUpdate, type RelayGenState } from "./relay-generations.js";
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
    systemOptions: (strategy) => (strategy === "synchronizer" ? { synchronizer: true } : {}),
    // The relay code only appends to its log and counts: the order of the log cannot change what it does next.
    stateKey(state: unknown) {
      const s = state as Partial<RelayState & RelayStateV2>;
      return [s.received ?? s.count, [...(s.log ?? s.history ?? [])].sort()];
    },
  };
}

/**
 * A line a - b - c of generation relays, each node sending one message to each neighbour at the start; the update
 * 1 -> 2 at any point, then what `then` says at any point after it (a life, not one step: issue 13).
 */
function lifeModel(name: string, description: string, then: readonly ExploreAction[], triangle = false): ExploreModel {
  return {
    name,
    description,
    root: "a",
    build(sys: System) {
      for (const n of ["a", "b", "c"]) sys.create(n, relayAt("a", 1));
      sys.link("a", "b");
      sys.link("b", "c");
      if (triangle) sys.link("a", "c");
    },
    start(sys: System) {
      for (const n of ["a", "b", "c"]) sys.request(n, { kind: "send", token: n, hops: 0 }).catch(() => undefined);
    },
    update: () => relayGenerationUpdate("a", 1, 2),
    then,
    systemOptions: (strategy) => (strategy === "synchronizer" ? { synchronizer: true } : {}),
    // A node that ever met a message of another generation has mixed epochs: the model's own safety verdict.
    problems: (sys) => sys.nodes().flatMap((n) => (sys.state(n) as RelayGenState).mixups.map((m) => `${n}: ${m}`)),
  };
}

export const EXPLORE_MODELS: Readonly<Record<string, ExploreModel>> = {
  "line3-twice": lifeModel("line3-twice", "3 nodes in a line, 1 -> 2 at any point, then 2 -> 3 at any point after it", [
    { kind: "update", update: () => relayGenerationUpdate("a", 2, 3) },
  ]),
  "triangle3-twice": lifeModel(
    "triangle3-twice",
    "3 nodes in a triangle, 1 -> 2 at any point, then 2 -> 3 at any point after it",
    [{ kind: "update", update: () => relayGenerationUpdate("a", 2, 3) }],
    true,
  ),
  "triangle3-link": lifeModel(
    "triangle3-link",
    "3 nodes in a triangle, 1 -> 2 at any point, then a - c unlinked and linked again (a new link) and a request at a, at any point after it",
    [
      { kind: "unlink", a: "a", b: "c" },
      { kind: "link", a: "a", b: "c" },
      { kind: "request", node: "a", body: { kind: "send", token: "late", hops: 1 } },
    ],
    true,
  ),
  "line3-link": lifeModel("line3-link", "3 nodes in a line, 1 -> 2 at any point, then a link a - c and a request at a at any point after it", [
    { kind: "link", a: "a", b: "c" },
    { kind: "request", node: "a", body: { kind: "send", token: "late", hops: 1 } },
  ]),
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
