import type { ClusterClient } from "../../src/deploy/cluster-client.js";
import { Rng } from "../../src/core/rng.js";

/** What a load saw: global reads (and those with a null: an update leaked a query), failures, acknowledged writes. */
export interface LoadTally {
  globalReads: number;
  nulls: number;
  readonly failed: string[];
  /** Each entry's last acknowledged write: every replica must end with it. */
  readonly acked: Map<number, string>;
}

/**
 * A bounded client load on a replicated-db line r0 - r1 - ...: global reads from r0, and writes, each entry with one
 * writer node and one write in flight at a time (so its last acknowledged write is the value every replica must
 * end with). One request pair every `everyMs`; stop() waits for every answer.
 */
export function dbLoad(
  client: ClusterClient,
  nodes: number,
  seed: number,
  everyMs = 5,
  /** `writers`: the nodes writes go to (default r0..r(nodes-1)); `globalReads: false`: writes only. */
  opts: { readonly writers?: readonly string[]; readonly globalReads?: boolean } = {},
): { readonly tally: LoadTally; stop(): Promise<void> } {
  const writers = opts.writers ?? Array.from({ length: nodes }, (_, i) => `r${i}`);
  const rng = new Rng(seed);
  const tally: LoadTally = { globalReads: 0, nulls: 0, failed: [], acked: new Map() };
  const busy = new Set<number>();
  const inflight: Promise<void>[] = [];
  let stop = false;
  let writes = 0;
  const fail = (e: unknown): void => void tally.failed.push(String(e));
  const loop = (async () => {
    while (!stop) {
      const entry = rng.int(0, 37);
      if (opts.globalReads !== false) {
        inflight.push(
          client.request("r0", { kind: "global-read", entry }).then((r) => {
            tally.globalReads++;
            if (Object.values(r as Record<string, string | null>).some((v) => v === null)) tally.nulls++;
          }, fail),
        );
      }
      if (!busy.has(entry)) {
        busy.add(entry);
        const value = `w${seed}-${++writes}`;
        inflight.push(
          client.request(writers[entry % writers.length] as string, { kind: "write", entry, value }).then(() => {
            tally.acked.set(entry, value);
            busy.delete(entry);
          }, fail),
        );
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    tally,
    async stop() {
      stop = true;
      await loop;
      await Promise.all(inflight);
    },
  };
}

/** Wait (bounded) until every node answers with no open request and nothing unacknowledged on a connected channel. */
export async function quiesce(client: ClusterClient, nodes: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { up } = await client.statusAll();
    if (up.length === nodes && up.every((s) => s.openRequests === 0 && s.neighbors.every((n) => n.unacked === 0 && n.connected))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the cluster did not quiesce within 10 s");
}

/** Every replica holds every entry's last acknowledged write; returns the entries checked. */
export async function expectReplicasHold(client: ClusterClient, ids: readonly string[], acked: ReadonlyMap<number, string>): Promise<readonly string[]> {
  const wrong: string[] = [];
  for (const [entry, value] of acked) {
    const seen = await Promise.all(ids.map((id) => client.request(id, { kind: "read", entry })));
    if (seen.some((v) => v !== value)) wrong.push(`entry ${entry}: expected ${value} everywhere, read ${JSON.stringify(seen)}`);
  }
  return wrong;
}
