import { LiveswapError } from "../core/errors.js";
/**
 * The failing transfers a lifetime injects, built from the real updates so
 * that everything else (behaviors, mapping) is the same: one that throws in
 * prepare's dry run (the update must be refused, nothing changed), and one
 * that passes the dry run and throws at swap time at one node (the update
 * must halt safely, then sys.resume() with the real transfer finishes it).
 */
import type { NodeId } from "../core/ids.js";
import type { Update } from "../core/update.js";

/** The fault the lifetime fuzzer injects into a transfer (it stands for the user's own bug). */
export class InjectedTransferFault extends LiveswapError {
  readonly code = "INJECTED_TRANSFER_FAULT";
}

/** Every transfer throws: prepare's dry run runs it on every node, so the update is refused before anything changes. */
export function refusedInPrepare(updates: readonly Update[]): Update[] {
  return updates.map((u) => ({
    ...u,
    state: () => {
      throw new InjectedTransferFault("the fuzzer's transfer refuses (thrown in the dry run)");
    },
  }));
}

/**
 * The transfer at `victim` passes its first run (prepare's dry run, on a copy)
 * and throws on every later one (the swap): the state "changed since" the dry
 * run. Other nodes transfer normally.
 */
export function throwsAtSwap(updates: readonly Update[], victim: NodeId): Update[] {
  let runs = 0;
  return updates.map((u) => ({
    ...u,
    state: (old: unknown, info: { readonly self: NodeId; readonly neighbors: readonly NodeId[] }): unknown => {
      if (info.self === victim && ++runs > 1) throw new InjectedTransferFault(`the fuzzer's transfer throws at swap time at "${victim}"`);
      return u.state(old, info);
    },
  }));
}

/**
 * The swap-time fault of a lifetime with faults, a pure function of the state the transfer is given: at `victim` it
 * throws on any state but the one its first call (prepare's dry run) was given, i.e. when the state changed between
 * prepare and swap, the way a real transfer meets a state its dry run never saw. A crashed node replays its log,
 * prepare's dry run and the swap included, so the transfer must decide the same way every time: one that counted
 * its calls (throwsAtSwap) would throw in the replayed dry run and the node would come back as some other node.
 * When the state did not change, nothing throws and the update completes.
 */
export function throwsAtSwapIfChanged(updates: readonly Update[], victim: NodeId): Update[] {
  let dryRun: string | undefined;
  return updates.map((u) => ({
    ...u,
    state: (old: unknown, info: { readonly self: NodeId; readonly neighbors: readonly NodeId[] }): unknown => {
      if (info.self === victim) {
        const seen = contentOf(old);
        dryRun ??= seen;
        if (seen !== dryRun) throw new InjectedTransferFault(`the fuzzer's transfer throws at swap time at "${victim}" (its state changed since the dry run)`);
      }
      return u.state(old, info);
    },
  }));
}

/** A state's content as text (Map and Set included), for comparing two states. */
function contentOf(x: unknown): string {
  return JSON.stringify(x, (_k, v: unknown) => (v instanceof Map ? ["Map", [...v.entries()]] : v instanceof Set ? ["Set", [...v.values()]] : v)) ?? "undefined";
}
