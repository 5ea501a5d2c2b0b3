/** How `fuzz` and `replay` describe one case of a scenario: one line, its findings, and a JSON summary. */
import { failureKinds, type CaseResult } from "../harness/fuzz.js";

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
  return `seed ${p.seed}, ${plural(p.nodes, "node")}, ${plural(p.requests, "request")}, update at ${p.updateAt} ms, root #${p.root}: ${plural(r.trace.length, "event")}, ${verdict}`;
}

export function summary(r: CaseResult): object {
  return {
    params: r.params,
    events: r.trace.length,
    failed: r.failed,
    violations: r.violations,
    problems: r.problems,
    ...(r.updateError !== undefined ? { updateError: r.updateError } : {}),
  };
}
