import { STRATEGIES, type Strategy } from "../core/update.js";
import { conservative } from "./conservative.js";
import { cut } from "./cut.js";
import { naive } from "./naive.js";
import { rollback } from "./rollback.js";
import { snapshot } from "./snapshot.js";
import { synchronizer } from "./synchronizer.js";
import type { StrategyModule } from "./strategy.js";

/** The strategies this build can run. The others are refused by update() with a clear error, never replaced by another. */
const modules: ReadonlyMap<Strategy, StrategyModule> = new Map<Strategy, StrategyModule>([
  ["naive", naive],
  ["conservative", conservative],
  ["cut", cut],
  ["snapshot", snapshot],
  ["synchronizer", synchronizer],
  ["rollback", rollback],
]);

export function strategyModule(name: Strategy): StrategyModule | undefined {
  return modules.get(name);
}

/** In the contract's order: the broken baseline first, the paper's strategies, ours last. */
export function availableStrategies(): readonly Strategy[] {
  return STRATEGIES.filter((s) => modules.has(s));
}
