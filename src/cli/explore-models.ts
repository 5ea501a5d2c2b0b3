import type { ExploreModel } from "../harness/explore.js";
import { EXPLORE_MODELS } from "../harness/explore-models.js";
import { hasFunctions, loadUserModule, type UserModuleKind } from "./user-module.js";

/** The built-in exploration models by name; anything else is a path to a module exporting `model` or a default. */
const MODELS: UserModuleKind<ExploreModel> = {
  option: "--model",
  exportName: "model",
  shape: "build, start, update and root",
  builtIn: Object.fromEntries(Object.entries(EXPLORE_MODELS).map(([name, m]) => [name, () => m])),
  isValid: (x): x is ExploreModel => hasFunctions(x, ["build", "start", "update"]),
};

export function builtInModels(): readonly string[] {
  return Object.keys(MODELS.builtIn);
}

export function loadModel(nameOrPath: string): Promise<ExploreModel> {
  return loadUserModule(MODELS, nameOrPath);
}
