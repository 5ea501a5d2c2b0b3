import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { InvalidOptionError, messageOf } from "../core/errors.js";

/** What a command loads by name or path: a scenario for fuzz and replay, a model for explore. */
export interface UserModuleKind<T> {
  /** The option that names it, e.g. "--scenario". */
  readonly option: string;
  /** What the module exports it as (or a default export), e.g. "scenario". */
  readonly exportName: string;
  /** The functions it must have, e.g. "build, update and workload". */
  readonly shape: string;
  readonly builtIn: Readonly<Record<string, () => T | Promise<T>>>;
  isValid(x: unknown): x is T;
}

/** A built-in one by name, or a module (a path) exporting it; any failure names the option, the module and the fix. */
export async function loadUserModule<T>(kind: UserModuleKind<T>, nameOrPath: string): Promise<T> {
  const builtIn = kind.builtIn[nameOrPath];
  if (builtIn !== undefined) return await builtIn();
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(nameOrPath)).href)) as Record<string, unknown>;
  } catch (e) {
    const names = Object.keys(kind.builtIn).join(", ");
    throw new InvalidOptionError(kind.option, `"${nameOrPath}" is neither a built-in one (${names}) nor a module that loads: ${messageOf(e)}`);
  }
  const found = mod[kind.exportName] ?? mod.default;
  if (!kind.isValid(found)) {
    throw new InvalidOptionError(kind.option, `module "${nameOrPath}" must export \`${kind.exportName}\` (or a default export) with ${kind.shape} (see the README)`);
  }
  return found;
}

/** Has every one of these function members. */
export function hasFunctions(x: unknown, names: readonly string[]): boolean {
  return typeof x === "object" && x !== null && names.every((n) => typeof (x as Record<string, unknown>)[n] === "function");
}
