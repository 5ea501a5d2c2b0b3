import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Scenario } from "../harness/scenario.js";

/** Scenarios that ship with liveswap, by name; anything else is a path to a module exporting `scenario` or a default. */
const BUILT_IN: Readonly<Record<string, () => Promise<Scenario>>> = {
  "replicated-db": async () => (await import("../scenarios/replicated-db/scenario.js")).scenario,
  mutex: async () => (await import("../scenarios/mutex/fuzz-scenario.js")).scenario,
};

export function builtInScenarios(): readonly string[] {
  return Object.keys(BUILT_IN);
}

export async function loadScenario(nameOrPath: string): Promise<Scenario> {
  const builtIn = BUILT_IN[nameOrPath];
  if (builtIn !== undefined) return builtIn();
  let mod: { scenario?: Scenario; default?: Scenario };
  try {
    mod = (await import(pathToFileURL(resolve(nameOrPath)).href)) as { scenario?: Scenario; default?: Scenario };
  } catch (e) {
    throw new Error(
      `scenario "${nameOrPath}" is neither a built-in one (${builtInScenarios().join(", ")}) nor a module that loads: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const s = mod.scenario ?? mod.default;
  if (s === undefined || typeof s.build !== "function" || typeof s.workload !== "function" || typeof s.update !== "function") {
    throw new Error(`scenario module "${nameOrPath}" must export \`scenario\` (or a default export) with build, update and workload (see the README)`);
  }
  return s;
}
