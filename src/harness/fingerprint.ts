import type { ControlMessage } from "../core/control.js";
import { SchedulerError } from "../core/errors.js";
import { ScriptedScheduler } from "../network/sim/scripted-scheduler.js";
import type { SimEvent } from "../network/sim/sim-event.js";
import type { System } from "../system.js";
import type { NodeHost } from "../runtime/node-host.js";
import type { HostOutput } from "../runtime/host-record.js";
import { channelKey, type ChannelsSnapshot } from "../runtime/channels.js";
import type { Envelope } from "../core/envelope.js";
import { CONTROL, type NodeId } from "../core/ids.js";

/**
 * A canonical description of everything that decides what can happen next in
 * a system on the scripted scheduler (node code, state and agent; pending
 * events; open requests; the coordinator; faults: crashed nodes, partitions,
 * channel positions and outboxes, what waits for a commit), without virtual
 * time or the trace.
 * Two states with the same fingerprint have the same futures. `stateKey` may
 * map a node's state to what of it can influence the future (an abstraction
 * the caller vouches for; the default keeps it all). Undefined when an agent
 * of the running strategy cannot describe itself (see NodeAgent.fingerprint).
 * `behind`: per crashed node, and per node that ran steps not committed yet,
 * its host as of its last commit (what a crash brings back), which the caller
 * keeps (the explorer does).
 */
export function fingerprint(sys: System, stateKey: (state: unknown) => unknown = (s) => s, behind: ReadonlyMap<NodeId, HostView> = NO_VIEWS): string | undefined {
  const sched = sys.network.scheduler;
  if (!(sched instanceof ScriptedScheduler)) throw new SchedulerError('fingerprint() needs new System({ scheduler: "scripted" })');
  const view = sys.inspect();
  const live: HostView[] = [];
  for (const host of view.hosts) {
    const v = viewOf(host, stateKey);
    if (v === undefined) return undefined;
    live.push(v);
  }
  const plane = view.plane;
  const position = positions(view.hosts, plane, behind);
  // What a host's uncommitted steps produced leaves at its commit (or never, if it crashes first).
  const nodes = live.map((v, i) => [render(v, position), (view.hosts[i] as NodeHost).heldOutputs.map(outputKey)]);
  const stale = (ev: SimEvent): boolean => ev.kind === "deliver" && view.staleOnWire(ev.seq, ev.env);
  const lanes = [...sched.lanes().entries()].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)).map(([lane, q]) => [lane, q.map((ev) => [eventKey(ev), stale(ev)])]);
  const other = sched
    .unlaned()
    .map((ev) => JSON.stringify([ev.kind, eventKey(ev)]))
    .sort();
  const durable = [...behind.values()].sort((x, y) => (x.id < y.id ? -1 : 1)).map((v) => render(v, position));
  // Faults: who is down and what it comes back as, which links are cut, the coordinators' channels (resent to a
  // restarted node, and by a restarted root), whose commit is due, what was lost on the wire.
  const faults = [view.down, durable, view.partitions, channelsKey(CONTROL, plane, position), view.commitDue, view.lostOnWire];
  // The running update: its coordinator, or only its id while it waits for its root's restart to begin.
  const update = [view.update ?? null, view.coordinator?.fingerprint() ?? null, view.coordinatorDown];
  return JSON.stringify([nodes, lanes, other, view.openRequests, update, view.epoch, faults]);
}

/** A host as a fingerprint shows it, taken at one moment (a crashed node's, as of its last commit). */
export interface HostView {
  readonly id: NodeId;
  /** Code, state and agent, neighbours, strays. */
  readonly core: string;
  readonly channels: ChannelsSnapshot;
}

const NO_VIEWS: ReadonlyMap<NodeId, HostView> = new Map();

/** Undefined when its agent cannot describe itself. */
export function viewOf(host: NodeHost, stateKey: (state: unknown) => unknown = (s) => s): HostView | undefined {
  const agent = host.agent.fingerprint?.(stateKey);
  if (agent === undefined) return undefined;
  const core = JSON.stringify([host.id, host.version, host.epoch, host.messagesSent, stateKey(host.state), agent, host.neighbors(), host.strayMeta]);
  return { id: host.id, core, channels: host.channels.snapshot() };
}

/** How far the receiver `to` applied, durably, what `from` sends it on `link`. */
type Position = (from: NodeId, to: NodeId, link: number) => number;

function positions(hosts: readonly NodeHost[], plane: ChannelsSnapshot, behind: ReadonlyMap<NodeId, HostView>): Position {
  const live = new Map(hosts.map((h) => [h.id, h]));
  const inbound = (s: ChannelsSnapshot, from: NodeId, link: number): number => s.inbound.find(([k]) => k === channelKey(from, link))?.[1] ?? 0;
  return (from, to, link) => {
    if (to === CONTROL) return inbound(plane, from, 0);
    const h = live.get(to);
    if (h !== undefined) return h.appliedDurably(from, link);
    const v = behind.get(to);
    return v === undefined ? 0 : inbound(v.channels, from, link);
  };
}

function render(v: HostView, position: Position): string {
  return JSON.stringify([v.core, channelsKey(v.id, v.channels, position)]);
}

/**
 * Channels as their futures depend on them: the positions applied, the next numbers, and the frames a reconnection
 * would send again (those beyond the receiver's durable position: an acknowledgement that has or has not arrived
 * yet makes no difference then).
 */
function channelsKey(self: NodeId, c: ChannelsSnapshot, position: Position): unknown {
  const inbound = [...c.inbound].sort((x, y) => (x[0] < y[0] ? -1 : 1));
  const outbound = [...c.outbound]
    .sort((x, y) => (x.to < y.to ? -1 : x.to > y.to ? 1 : x.link - y.link))
    .map((o) => {
      const after = position(self, o.to, o.link);
      return [o.to, o.link, o.next, o.frames.filter((f) => (f.seq ?? 0) > after).map((f) => [f.seq ?? null, frameKey(f)])];
    });
  return [inbound, outbound];
}

function frameKey(env: Envelope): unknown {
  return env.kind === "app" ? [env.id, env.epoch, env.body, env.meta ?? null] : [env.update, controlKey(env.msg)];
}

function outputKey(out: HostOutput): unknown {
  switch (out.kind) {
    case "transmit":
      return [out.kind, out.env.to, out.env.seq ?? null, frameKey(out.env)];
    case "record":
      return [out.kind];
    default:
      return [out.kind, out.request];
  }
}

function eventKey(ev: SimEvent): unknown {
  switch (ev.kind) {
    case "deliver":
      return frameKey(ev.env);
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
