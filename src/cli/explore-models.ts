import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { ExploreModel } from "../harness/explore.js";
import { EXPLORE_MODELS } from "../harness/explore-models.js";

export function builtInModels(): readonly string[] {
  return Object.keys(EXPLORE_MODELS);
}

/** A built-in model by name, or a module exporting `model` (or a default export). */
export async function loadModel(nameOrPath: string): Promise<ExploreModel> {
  const builtIn = EXPLORE_MODELS[nameOrPath];
  if (builtIn !== undefined) return builtIn;
  let mod: { model?: ExploreModel; default?: ExploreModel };
  try {
    mod = (await import(pathToFileURL(resolve(nameOrPath)).href)) as { model?: ExploreModel; default?: ExploreModel };
  } catch (e) {
    throw new Error(`model "${nameOrPath}" is neither a built-in one (${builtInModels().join(", ")}) nor a module that loads: ${e instanceof Error ? e.message : String(e)}`);
  }
  const m = mod.model ?? mod.default;
  if (m === undefined || typeof m.build !== "function" || typeof m.start !== "function" || typeof m.update !== "function") {
    throw new Error(`model module "${nameOrPath}" must export \`model\` (or a default export) with build, start, update and root`);
  }
  return m;
}
