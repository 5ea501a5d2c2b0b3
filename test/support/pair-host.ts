import type { Behavior } from "../../src/core/behavior.js";
import type { Envelope } from "../../src/core/envelope.js";
import { Topology } from "../../src/core/topology.js";
import { NodeHost, type HostEnvironment } from "../../src/runtime/node-host.js";

/**
 * Node "b" of a two-node topology a - b, hosted on a network of nothing: what the host sends is kept in `sent`, time
 * stands at 0, an inline update's code loads as itself. `env` overrides any part of that network (a trace recorder, a
 * clock, a transmit that does more).
 */
export function pairHost(v1: Behavior, env: Partial<HostEnvironment> = {}): { host: NodeHost; topology: Topology; sent: Envelope[] } {
  const topology = new Topology();
  topology.addNode("a");
  topology.addNode("b");
  topology.addLink("a", "b");
  const sent: Envelope[] = [];
  const base: HostEnvironment = {
    tracing: true,
    now: () => 0,
    neighbors: (n) => topology.neighbors(n),
    linksOf: (n) => topology.linksOf(n),
    hasOpenRequest: () => false,
    transmit: (e) => void sent.push(e),
    startTimer: () => undefined,
    record: () => undefined,
    answer: () => undefined,
    fail: () => undefined,
    loadCode: (c) => (c.kind === "inline" ? c.updates : []),
  };
  const host = new NodeHost("b", v1, 0, 1, { ...base, ...env });
  host.initialize();
  return { host, topology, sent };
}
