import type { NodeId, System } from "../../index.js";
import { mutexV1 } from "./mutex.js";
import { mutexNode } from "./scenario.js";

/** A complete graph of n mutex@1 nodes (the protocol needs every pair linked). */
export function buildComplete(sys: System, n: number): readonly NodeId[] {
  const nodes = Array.from({ length: n }, (_, i) => mutexNode(i));
  for (const id of nodes) sys.create(id, mutexV1);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) sys.link(nodes[i] as NodeId, nodes[j] as NodeId);
  return nodes;
}

