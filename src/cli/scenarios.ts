import type { Scenario } from "../harness/scenario.js";
import { hasFunctions, loadUserModule, type UserModuleKind } from "./user-module.js";

/** Scenarios that ship with liveswap, by name; anything else is a path to a module exporting `scenario` or a default. */
const SCENARIOS: UserModuleKind<Scenario> = {
  option: "--scenario",
  exportName: "scenario",
  shape: "build, update and workload",
  builtIn: {
    "replicated-db": async () => (await import("../scenarios/replicated-db/scenario.js")).scenario,
    mutex: async () => (await import("../scenarios/mutex/fuzz-scenario.js")).scenario,
    relay: async () => (await import("../scenarios/relay/scenario.js")).scenario,
    ledger: async () => (await import("../scenarios/ledger/scenario.js")).scenario,
  },
  isValid: (x): x is Scenario => hasFunctions(x, ["build", "update", "workload"]),
};

export function builtInScenarios(): readonly string[] {
  return Object.keys(SCENARIOS.builtIn);
}

export function loadScenario(nameOrPath: string): Promise<Scenario> {
  return loadUserModule(SCENARIOS, nameOrPath);
}
