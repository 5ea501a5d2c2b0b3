import {
  LiveswapError,
  PrepareDeadlineError,
  PrepareFailedError,
  ResumeRefusedError,
  UpdateAbortedError,
  UpdateHaltedError,
  messageOf,
} from "../core/errors.js";
import type { UpdateOutcomeView } from "../network/tcp/protocol.js";
import { RemoteError } from "./errors.js";

/**
 * An update's error as the root's view carries it: its message, its code, and the fields its class is rebuilt from,
 * so that `ctl update` (another process) rejects with the same class the simulator's update() would.
 */
export function outcomeOfError(e: Error): Extract<UpdateOutcomeView, { ok: false }> {
  const code = e instanceof LiveswapError ? (e as LiveswapError & { code: string }).code : "UPDATE_FAILED";
  const fields = fieldsOf(e);
  return { ok: false, error: messageOf(e), code, ...(fields !== undefined ? { fields } : {}) };
}

function fieldsOf(e: Error): Record<string, unknown> | undefined {
  if (e instanceof PrepareFailedError) return { node: e.node, reason: e.reason };
  if (e instanceof PrepareDeadlineError) return { update: e.update, nodes: e.nodes, deadlineMs: e.deadlineMs };
  if (e instanceof UpdateHaltedError) return { update: e.update, failures: e.failures };
  if (e instanceof UpdateAbortedError) return { update: e.update, reason: e.reason };
  if (e instanceof ResumeRefusedError) return { update: e.update, node: e.node, reason: e.reason };
  return undefined;
}

/** The error an ended update's view carries, as its own class where the fields allow; else a RemoteError with its code. */
export function outcomeError(out: Extract<UpdateOutcomeView, { ok: false }>, root = "the root"): Error {
  const f = (out.fields ?? {}) as Record<string, unknown>;
  const str = (k: string): string => String(f[k]);
  const num = (k: string): number => Number(f[k]);
  switch (out.code) {
    case "PREPARE_FAILED":
      if (f.node !== undefined) return new PrepareFailedError(str("node"), str("reason"));
      break;
    case "PREPARE_DEADLINE":
      if (Array.isArray(f.nodes)) return new PrepareDeadlineError(num("update"), f.nodes as string[], num("deadlineMs"));
      break;
    case "UPDATE_HALTED":
      if (Array.isArray(f.failures)) return new UpdateHaltedError(num("update"), f.failures as { node: string; error: string }[]);
      break;
    case "UPDATE_ABORTED":
      if (f.update !== undefined) return new UpdateAbortedError(num("update"), str("reason"));
      break;
    case "RESUME_REFUSED":
      if (f.node !== undefined) return new ResumeRefusedError(num("update"), str("node"), str("reason"));
      break;
  }
  return new RemoteError(root, out.error, out.code);
}
