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
