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

/** The links of a life model's nodes: a line a - b - c, a triangle, or a pair a - b. */
type LifeShape = "line" | "triangle" | "pair";

const LIFE_LINKS: Readonly<Record<LifeShape, readonly (readonly [string, string])[]>> = {
  line: [
    ["a", "b"],
    ["b", "c"],
  ],
  triangle: [
    ["a", "b"],
    ["b", "c"],
    ["a", "c"],
  ],
  pair: [["a", "b"]],
};

/**
 * Generation relays (a line a - b - c unless said otherwise), each node sending one message to each neighbour at
 * the start; the update 1 -> 2 at any point (from `root`, default a), then what `then` says at any point after it (a
 * life, not one step: issue 13); with `crash`, one node (any, or one of those named) crashes at any point and restarts
 * at any point after (faults); the update's root runs its coordinator, which crashes with it.
 */
function lifeModel(
  name: string,
  description: string,
  then: readonly ExploreAction[],
  shape: LifeShape = "line",
  faults: { readonly crash?: boolean | readonly string[]; readonly groupCommitMs?: number; readonly root?: string; readonly lostForGood?: boolean; readonly takeoverAt?: string } = {},
): ExploreModel {
  const links = LIFE_LINKS[shape];
  const nodes = [...new Set(links.flat())].sort();
  const crash = faults.crash === true ? nodes : faults.crash === false || faults.crash === undefined ? undefined : faults.crash;
  return {
    name,
    description,
    root: faults.root ?? "a",
    ...(crash !== undefined
      ? { crash: { nodes: crash, ...(faults.lostForGood === true ? { lostForGood: true } : {}), ...(faults.takeoverAt !== undefined ? { takeoverAt: faults.takeoverAt } : {}) } }
      : {}),
    build(sys: System) {
      for (const n of nodes) sys.create(n, relayAt("a", 1));
      for (const [a, b] of links) sys.link(a, b);
    },
    start(sys: System) {
      for (const n of nodes) sys.request(n, { kind: "send", token: n, hops: 0 }).catch(() => undefined);
    },
    update: () => relayGenerationUpdate("a", 1, 2),
    then,
    systemOptions: (strategy) => ({ ...(strategy === "synchronizer" ? { synchronizer: true } : {}), ...(faults.groupCommitMs !== undefined ? { groupCommitMs: faults.groupCommitMs } : {}) }),
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
    "triangle",
  ),
  "triangle3-link": lifeModel(
    "triangle3-link",
    "3 nodes in a triangle, 1 -> 2 at any point, then a - c unlinked and linked again (a new link) and a request at a, at any point after it",
    [
      { kind: "unlink", a: "a", b: "c" },
      { kind: "link", a: "a", b: "c" },
      { kind: "request", node: "a", body: { kind: "send", token: "late", hops: 1 } },
    ],
    "triangle",
  ),
  "line3-link": lifeModel("line3-link", "3 nodes in a line, 1 -> 2 at any point, then a link a - c and a request at a at any point after it", [
    { kind: "link", a: "a", b: "c" },
    { kind: "request", node: "a", body: { kind: "send", token: "late", hops: 1 } },
  ]),
  "line3-crash": lifeModel(
    "line3-crash",
    "3 nodes in a line, 1 -> 2 at any point; one node (any) crashes at any point, and restarts at any point after",
    [],
    "line",
    { crash: true },
  ),
  "line3-crash-commit": lifeModel(
    "line3-crash-commit",
    "line3-crash with a group-commit window: every step commits in an event of its own, so the crash may fall between a step and its commit",
    [],
    "line",
    { crash: true, groupCommitMs: 1 },
  ),
  "line3-crash-root": lifeModel(
    "line3-crash-root",
    "3 nodes in a line, 1 -> 2 at any point from the middle node b; b, the root (its update's coordinator runs there), crashes at any point and restarts at any point after",
    [],
    "line",
    { crash: ["b"], root: "b" },
  ),
  "line3-forget": lifeModel(
    "line3-forget",
    "3 nodes in a line, 1 -> 2 at any point from a; the end node c crashes at any point and is lost for good: forgotten at any point after (in prepare the update aborts, past it the update goes on without it)",
    [],
    "line",
    { crash: ["c"], lostForGood: true },
  ),
  "triangle3-forget": lifeModel(
    "triangle3-forget",
    "3 nodes in a triangle, 1 -> 2 at any point from a; b (c's parent in conservative's orientation) crashes at any point and is lost for good: forgotten at any point after",
    [],
    "triangle",
    { crash: ["b"], lostForGood: true },
  ),
  "triangle3-takeover": lifeModel(
    "triangle3-takeover",
    "3 nodes in a triangle, 1 -> 2 at any point from a; the root a (its coordinator runs there) crashes at any point and is lost for good: the update is taken over at b at any point after (a is forgotten if no update runs any more)",
    [],
    "triangle",
    { crash: ["a"], lostForGood: true, takeoverAt: "b" },
  ),
  "pair-takeover-commit": lifeModel(
    "pair-takeover-commit",
    "2 linked nodes, 1 -> 2 at any point from a, with a group-commit window; the root a crashes at any point (perhaps between a step and its commit) and is lost for good: the update is taken over at b at any point after",
    [],
    "pair",
    { crash: ["a"], lostForGood: true, takeoverAt: "b", groupCommitMs: 1 },
  ),
  "pair-forget-commit": lifeModel(
    "pair-forget-commit",
    "2 linked nodes, 1 -> 2 at any point from a, with a group-commit window; b crashes at any point (perhaps between a step and its commit) and is lost for good: forgotten at any point after",
    [],
    "pair",
    { crash: ["b"], lostForGood: true, groupCommitMs: 1 },
  ),
  "pair-crash": lifeModel("pair-crash", "2 linked nodes, 1 -> 2 at any point; one of them crashes at any point, and restarts at any point after", [], "pair", { crash: true }),
  "pair-crash-commit": lifeModel(
    "pair-crash-commit",
    "pair-crash with a group-commit window: the crash may fall between a step and its commit",
    [],
    "pair",
    { crash: true, groupCommitMs: 1 },
  ),
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
