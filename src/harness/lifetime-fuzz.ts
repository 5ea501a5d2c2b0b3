/**
 * The lifetime fuzzer: lifetime i is drawn from seed + i and run; the first
 * that fails is shrunk. A case file (JSON: the scenario as it was named, the
 * strategy and the lifetime) is what `liveswap replay --lifetime FILE` reads
 * to run the shrunk lifetime again, trace byte for byte: a shrunk lifetime is
 * no longer a function of its seed alone, so flags could not carry it.
 */
import type { Strategy } from "../core/update.js";
import { drawLifetime, DEFAULT_SHAPE, type Lifetime, type LifetimeShape } from "./lifetime.js";
import { runLifetime, type LifetimeResult } from "./lifetime-run.js";
import { shrinkLifetime } from "./lifetime-shrink.js";
import type { Scenario } from "./scenario.js";

export interface LifetimeFuzzOptions {
  readonly runs: number;
  /** First seed; lifetime i uses seed + i. */
  readonly seed: number;
  /** Fix the first nodes' count (default: drawn per lifetime). */
  readonly nodes?: number;
  readonly shape?: LifetimeShape;
  readonly onRun?: (done: number, total: number) => void;
}

export interface LifetimeFuzzOutcome {
  readonly runs: number;
  readonly failure?: { readonly original: LifetimeResult; readonly shrunk: LifetimeResult };
}

export async function fuzzLifetimes(scenario: Scenario, strategy: Strategy, o: LifetimeFuzzOptions): Promise<LifetimeFuzzOutcome> {
  const life = scenario.lifetime;
  if (life === undefined) throw new Error(`scenario "${scenario.name}" has no lifetime support: give it \`lifetime\` (see LifetimeSupport in src/harness/scenario.ts)`);
  for (let i = 0; i < o.runs; i++) {
    const drawn = drawLifetime(scenario, life, o.seed + i, o.shape ?? DEFAULT_SHAPE);
    const r = await runLifetime(scenario, strategy, o.nodes !== undefined ? { ...drawn, nodes: o.nodes } : drawn);
    o.onRun?.(i + 1, o.runs);
    if (r.failed) return { runs: i + 1, failure: { original: r, shrunk: await shrinkLifetime(scenario, strategy, r) } };
  }
  return { runs: o.runs };
}

export const CASE_FORMAT = "liveswap-lifetime/1";

export interface LifetimeCase {
  readonly format: typeof CASE_FORMAT;
  /** The scenario as `--scenario` named it (a built-in name or a path). */
  readonly scenario: string;
  readonly strategy: Strategy;
  readonly lifetime: Lifetime;
}

export function caseJson(scenario: string, strategy: Strategy, lifetime: Lifetime): string {
  const c: LifetimeCase = { format: CASE_FORMAT, scenario, strategy, lifetime };
  return `${JSON.stringify(c, null, 2)}\n`;
}

/** A case file's content, checked enough that a wrong file is named as such instead of failing somewhere inside a run. */
export function parseCase(text: string, file: string): LifetimeCase {
  let c: unknown;
  try {
    c = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not a lifetime case file (not JSON: ${e instanceof Error ? e.message : String(e)})`);
  }
  const x = c as Partial<LifetimeCase> | null;
  if (x === null || typeof x !== "object" || x.format !== CASE_FORMAT) throw new Error(`${file} is not a lifetime case file (format "${CASE_FORMAT}" expected)`);
  const l = x.lifetime;
  if (typeof x.scenario !== "string" || typeof x.strategy !== "string" || l === undefined || !Number.isInteger(l.seed) || !Number.isInteger(l.nodes) || !Array.isArray(l.steps)) {
    throw new Error(`${file}: a lifetime case needs scenario, strategy and lifetime { seed, nodes, steps }`);
  }
  return x as LifetimeCase;
}
