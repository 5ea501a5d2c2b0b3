/** How `fuzz` and `replay` describe one case of a scenario: one line, its findings, and a JSON summary. */
import { failureKinds, type CaseResult } from "../harness/fuzz.js";
import type { LifetimeResult } from "../harness/lifetime-run.js";
import { lifetimeFailureKinds } from "../harness/lifetime-shrink.js";

export function problemsOf(r: CaseResult): string[] {
  return [
    ...r.violations.map((v) => `[${v.invariant}] at ${v.at} ms: ${v.message}`),
    ...r.problems.map((p) => `[safety] ${p}`),
    ...(r.updateError !== undefined ? [`[update] ${r.updateError}`] : []),
  ];
}

export function describeCase(r: CaseResult): string {
  const p = r.params;
  const verdict = r.failed ? `failed (${[...failureKinds(r)].join(", ")}: ${problemsOf(r).length} finding${problemsOf(r).length === 1 ? "" : "s"})` : "ok";
  const plural = (k: number, word: string): string => `${k} ${word}${k === 1 ? "" : "s"}`;
  return `seed ${p.seed}, ${plural(p.nodes, "node")}, ${plural(p.requests, "request")}, update at ${p.updateAt} ms, root ${r.rootName}: ${plural(r.trace.length, "event")}, ${verdict}`;
}

export function summary(r: CaseResult): object {
  return {
    params: r.params,
    root: r.rootName,
    events: r.trace.length,
    failed: r.failed,
    violations: r.violations,
    problems: r.problems,
    ...(r.updateError !== undefined ? { updateError: r.updateError } : {}),
  };
}

/** A lifetime's findings, one line each, as problemsOf for a single update. */
export function lifetimeProblems(r: LifetimeResult): string[] {
  return [
    ...r.violations.map((v) => `[${v.invariant}] at ${v.at} ms: ${v.message}`),
    ...r.problems.map((p) => `[safety] ${p}`),
    ...r.errors.map((e) => `[runtime] ${e}`),
  ];
}

export function describeLifetime(r: LifetimeResult): string {
  const l = r.lifetime;
  const updates = l.steps.filter((s) => s.kind === "update").length;
  const requests = l.steps.reduce((n, s) => n + (s.kind === "load" ? s.requests : s.kind === "update" ? s.during : 0), 0);
  const found = lifetimeProblems(r).length;
  const verdict = r.failed ? `failed (${[...lifetimeFailureKinds(r)].join(", ")}: ${found} finding${found === 1 ? "" : "s"})` : "ok";
  return `seed ${l.seed}, ${l.nodes} nodes, ${l.steps.length} steps (${updates} updates, ${requests} requests): ${r.trace.length} events, ${verdict}`;
}

export function lifetimeSummary(r: LifetimeResult): object {
  return { lifetime: r.lifetime, steps: r.steps, events: r.trace.length, failed: r.failed, violations: r.violations, problems: r.problems, errors: r.errors };
}
