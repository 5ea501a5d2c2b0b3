/** Facts about a trace that the strategies' tests assert; each returns what it found wrong, empty when all is well. */
import type { NodeId } from "../../src/core/ids.js";
import type { TraceEvent } from "../../src/core/trace/trace-event.js";

/**
 * In a synchronized system a message generated in pulse p travels in the
 * pulse-(p+1) envelope and must be executed in pulse p+1, never earlier (it
 * would be early) nor later (a pulse-(x-1) message at pulse x). A transformed
 * message keeps the pulse of the message it replaces.
 */
export function messagesOutOfPulse(trace: readonly TraceEvent[]): string[] {
  const pulse = new Map<NodeId, number>();
  const sentIn = new Map<string, number>();
  const wrong: string[] = [];
  for (const e of trace) {
    switch (e.kind) {
      case "pulse":
        pulse.set(e.node, e.pulse);
        break;
      case "send":
        sentIn.set(e.msg, pulse.get(e.node) ?? 0);
        break;
      case "transform": {
        const p = sentIn.get(e.msg);
        if (p !== undefined) for (const id of e.into) sentIn.set(id, p);
        break;
      }
      case "deliver": {
        const p = sentIn.get(e.msg);
        const at = pulse.get(e.node) ?? 0;
        if (p === undefined || at !== p + 1) wrong.push(`${e.msg} generated in pulse ${p} executed by "${e.node}" in pulse ${at} (t=${e.t})`);
        break;
      }
      default:
        break;
    }
  }
  return wrong;
}

/** Snapshot: between a node's freeze (its first freeze marker or start) and its swap it executes no application event. */
export function executionsWhileFrozen(trace: readonly TraceEvent[]): string[] {
  const frozen = new Set<NodeId>();
  const wrong: string[] = [];
  for (const e of trace) {
    if (e.kind === "control-receive" && (e.signal === "freeze" || e.signal === "start")) frozen.add(e.node);
    else if (e.kind === "swap") frozen.delete(e.node);
    else if ((e.kind === "deliver" || e.kind === "request" || e.kind === "timer") && frozen.has(e.node)) wrong.push(`${e.kind} at frozen "${e.node}" (t=${e.t})`);
  }
  return wrong;
}

/** Per node, the instant of its first swap. */
export function swapTimes(trace: readonly TraceEvent[]): Map<NodeId, number> {
  const out = new Map<NodeId, number>();
  for (const e of trace) if (e.kind === "swap" && !out.has(e.node)) out.set(e.node, e.t);
  return out;
}
