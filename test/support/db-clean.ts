import { expect } from "vitest";
import { checkTrace } from "../../src/check/checker.js";
import type { ClusterClient } from "../../src/deploy/cluster-client.js";
import { expectReplicasHold, quiesce, type LoadTally } from "./db-load.js";

/**
 * What a replicated-db run under load must show once its load stopped: nothing failed, lost or read null, every node
 * at `version`, every acknowledged write on every replica, every message delivered once (transformed ones under their
 * new id), the merged trace clean. Returns the checker's verdict.
 */
export async function expectCleanRun(client: ClusterClient, nodes: number, tally: LoadTally, report: { readonly nodes: object }, version: string): Promise<ReturnType<typeof checkTrace>> {
  await quiesce(client, nodes);
  expect(tally.failed).toEqual([]);
  expect(tally.nulls).toBe(0);
  expect(tally.globalReads).toBeGreaterThan(20);
  expect(Object.keys(report.nodes)).toHaveLength(nodes);
  const { up } = await client.statusAll();
  expect(up.map((s) => s.version)).toEqual(Array(nodes).fill(version));
  expect(await expectReplicasHold(client, up.map((s) => s.id), tally.acked)).toEqual([]);
  const trace = await client.trace();
  const verdict = checkTrace(trace, { complete: true });
  expect(verdict.violations).toEqual([]);
  const ids = trace.flatMap((e) => (e.kind === "deliver" ? [e.msg] : []));
  expect(new Set(ids).size).toBe(ids.length);
  expect(trace.filter((e) => e.kind === "send").length).toBeGreaterThan(100);
  return verdict;
}
