import type { ControlMessage } from "../core/control.js";
import { SchedulerError } from "../core/errors.js";
import { ScriptedScheduler } from "../network/sim/scripted-scheduler.js";
import type { SimEvent } from "../network/sim/sim-event.js";
import type { System } from "../system.js";

/**
 * A canonical description of everything that decides what can happen next in
 * a system on the scripted scheduler (node code, state and agent; pending
 * events; open requests; the coordinator), without virtual time or the trace.
 * Two states with the same fingerprint have the same futures. `stateKey` may
 * map a node's state to what of it can influence the future (an abstraction
 * the caller vouches for; the default keeps it all). Undefined when an agent
 * of the running strategy cannot describe itself (see NodeAgent.fingerprint).
 */
export function fingerprint(sys: System, stateKey: (state: unknown) => unknown = (s) => s): string | undefined {
  const sched = sys.network.scheduler;
  if (!(sched instanceof ScriptedScheduler)) throw new SchedulerError('fingerprint() needs new System({ scheduler: "scripted" })');
  const view = sys.inspect();
  const nodes: unknown[] = [];
  for (const host of view.hosts) {
    const agent = host.agent.fingerprint?.(stateKey);
    if (agent === undefined) return undefined;
    nodes.push([host.id, host.version, host.epoch, host.messagesSent, stateKey(host.state), agent, host.neighbors(), host.strayMeta]);
  }
  const lanes = [...sched.lanes().entries()].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)).map(([lane, q]) => [lane, q.map(eventKey)]);
  const other = sched
    .unlaned()
    .map((ev) => JSON.stringify([ev.kind, eventKey(ev)]))
    .sort();
  return JSON.stringify([nodes, lanes, other, view.openRequests, view.coordinator?.fingerprint() ?? null, view.epoch]);
}

function eventKey(ev: SimEvent): unknown {
  switch (ev.kind) {
    case "deliver":
      return ev.env.kind === "app" ? [ev.env.id, ev.env.epoch, ev.env.body, ev.env.meta ?? null] : [ev.env.update, controlKey(ev.env.msg)];
    case "request":
      return [ev.request, ev.body];
    case "timer":
      return [ev.node, ev.tag, ev.incarnation];
    case "deadline":
      return [ev.label];
  }
}

/**
 * A control message as the explorer tells states apart. A node's reports carry clock readings (when it turned new,
 * when its part ended) and counts kept for the report and never decided on: leaving them out lets two orders of
 * independent events that differ only in timing count as one state. The prepare's code is the same for every node.
 */
function controlKey(msg: ControlMessage): unknown {
  switch (msg.kind) {
    case "swapped":
      return [msg.kind, msg.figures !== undefined];
    case "done":
      return [msg.kind];
    case "prepare":
      return [msg.kind, msg.run.id, msg.strategy ?? null];
    default:
      return msg;
  }
}
