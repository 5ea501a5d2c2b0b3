/**
 * The replicated database's lifetime: generations whose key format alternates
 * (generations.ts), forward and back, on a random connected topology that
 * grows (new replicas at the current generation, new links). It does not
 * shrink: a link removed under a global read strands its echo, and a replica
 * cut off stops converging, which are the application's limits, not the
 * runtime's.
 *
 * Safety: no global read answers null, no replica counts a write for a key it
 * does not have (both are key-format mix-ups), and the replicas the run
 * started with hold the same entries at the end (a replica created later
 * missed the writes before it joined, by design).
 */
import type { NodeId } from "../../core/ids.js";
import type { LifetimeLoad, LifetimeSupport } from "../../harness/scenario.js";
import { makeTopology, TOPOLOGY_KINDS } from "../../harness/topologies.js";
import type { System } from "../../system.js";
import type { DbState } from "./db.js";
import { databaseAt, databaseUpdate } from "./generations.js";

export function dbLifetime(entries: number): LifetimeSupport {
  return {
    behaviorsAt: (k) => [databaseAt(k, entries)],
    updates: (from, to) => [databaseUpdate(from, to, entries)],
    canUpdate: (from, to) => from !== to && to >= 1,
    reconfigure: ["create", "link"],
    build(sys, n, rng) {
      const spec = makeTopology(rng.pick(TOPOLOGY_KINDS), n, rng.uint32());
      for (const id of spec.nodes) sys.create(id, databaseAt(1, entries));
      for (const [a, b] of spec.links) sys.link(a, b);
      return spec.nodes;
    },
    load: (sys) => dbLoad(sys, entries),
  };
}

function dbLoad(sys: System, entries: number): LifetimeLoad {
  const original = [...sys.nodes()];
  const found: string[] = [];
  const asks: Promise<unknown>[] = [];
  let writes = 0;
  return {
    issue(at, rng) {
      const entry = rng.int(0, entries - 1);
      const roll = rng.float();
      const ask =
        roll < 0.3
          ? sys.request<Record<string, string | null>>(at, { kind: "global-read", entry }).then((r) => {
              const missing = Object.entries(r).filter(([, v]) => v === null).map(([n]) => `"${n}"`);
              if (missing.length > 0) found.push(`global read of entry ${entry} from "${at}" answered null at ${missing.join(", ")}`);
            })
          : roll < 0.65
            ? sys.request(at, { kind: "write", entry, value: `w${++writes}` })
            : sys.request(at, { kind: "read", entry });
      asks.push(ask.catch((e: unknown) => found.push(`request at "${at}" failed: ${e instanceof Error ? e.message : String(e)}`)));
    },
    async problems() {
      await Promise.all(asks);
      return [...found, ...unknownWrites(sys), ...diverged(sys, original)];
    },
  };
}

function unknownWrites(sys: System): string[] {
  return sys.nodes().flatMap((id) => {
    const n = (sys.state(id) as DbState).unknownWrites;
    return n > 0 ? [`replica "${id}" (${sys.version(id)}) received ${n} write(s) for keys it does not have`] : [];
  });
}

function diverged(sys: System, original: readonly NodeId[]): string[] {
  const alive = original.filter((id) => sys.nodes().includes(id));
  const states = alive.map((id) => [id, JSON.stringify((sys.state(id) as DbState).entries)] as const);
  const first = states[0];
  const off = states.filter(([, s]) => s !== first?.[1]).map(([id]) => `"${id}"`);
  return off.length > 0 ? [`replicas diverged: ${off.join(", ")} differ from "${first?.[0]}"`] : [];
}
