/**
 * The ledger's lifetime (harness/ledger.ts): numbered messages on a random
 * connected topology through any generation, forward or back, with bursts that
 * hop on, timer-driven ticks and reads, under crashes, partitions and group
 * commit. The topology grows and loses nodes but never loses a link between
 * two live nodes: a message in flight on a removed link is gone by design,
 * and the ledger would count the gap when the link came back.
 *
 * Safety: no node saw a number out of order on any channel (a loss, a
 * duplicate, a reordering), no request ran twice, no handler fault, every
 * request answered (or failed because its node was destroyed).
 */
import type { NodeId } from "../../core/ids.js";
import type { LedgerRequest, LedgerState } from "../../harness/ledger.js";
import { ledgerAt, ledgerUpdateBetween } from "../../harness/ledger-generations.js";
import type { LifetimeLoad, LifetimeSupport } from "../../harness/scenario.js";
import { makeTopology, TOPOLOGY_KINDS } from "../../harness/topologies.js";
import type { Rng } from "../../core/rng.js";
import type { System } from "../../system.js";
import { handlerFaults } from "../relay/lifetime.js";

export const ledgerLifetime: LifetimeSupport = {
  behaviorsAt: (k) => [ledgerAt(k)],
  updates: (from, to) => [ledgerUpdateBetween(from, to)],
  canUpdate: (from, to) => from !== to && to >= 1,
  reconfigure: ["create", "link", "destroy"],
  build(sys, n, rng) {
    const spec = makeTopology(rng.pick(TOPOLOGY_KINDS), n, rng.uint32());
    for (const id of spec.nodes) sys.create(id, ledgerAt(1));
    for (const [a, b] of spec.links) sys.link(a, b);
    return spec.nodes;
  },
  load: (sys) => ledgerLoad(sys),
};

/** A burst (most often), a few ticks, or a read. */
export function ledgerRequest(rng: Rng): LedgerRequest {
  const roll = rng.float();
  if (roll < 0.7) return { kind: "burst", count: rng.int(1, 3), hops: rng.int(0, 3) };
  if (roll < 0.85) return { kind: "tick", delay: rng.int(1, 8), times: rng.int(1, 3) };
  return { kind: "read" };
}

export function ledgerLoad(sys: System): LifetimeLoad {
  const failed: string[] = [];
  const asks: Promise<unknown>[] = [];
  return {
    issue(at, rng) {
      const n = asks.length;
      asks.push(
        sys.request(at, ledgerRequest(rng)).catch((e: unknown) => {
          // A request whose node a destroy step removed fails by design.
          if (!(e instanceof Error && e.name === "RequestFailedError" && /destroyed/.test(e.message))) failed.push(`request ${n} at "${at}": ${String(e)}`);
        }),
      );
    },
    async problems() {
      await Promise.all(asks);
      return [...ledgerProblems(sys), ...handlerFaults(sys), ...failed];
    },
  };
}

/** Every node's anomalies (per channel: expected number, number got) and requests run more than once. */
export function ledgerProblems(sys: System): string[] {
  return [...sys.nodes()].sort().flatMap((id: NodeId) => {
    const s = sys.state(id) as LedgerState;
    const twice = Object.entries(s.ran).filter(([, n]) => n > 1);
    return [...s.anomalies.map((a) => `anomaly at "${id}" (from:expected:got): ${a}`), ...twice.map(([rid, n]) => `request ${rid} ran ${n} times at "${id}"`)];
  });
}
