import { explore } from "./src/harness/explore.js";
import { EXPLORE_MODELS } from "./src/harness/explore-models.js";
const norm = (f: string) => f.replace(/"t":[0-9.]+/g, '"t":0');
for (const [m, st] of [["pair","conservative"],["pair","cut"],["pair","snapshot"],["pair","rollback"],["line3","conservative"],["line3","cut"]] as const) {
  const A = new Set<string>(), B = new Set<string>();
  const a = await explore(EXPLORE_MODELS[m]!, st, { sleepSets: false, maxTimeMs: 600000, maxPaths: 1e9, onState: (f) => A.add(norm(f)) });
  const b = await explore(EXPLORE_MODELS[m]!, st, { maxTimeMs: 600000, maxPaths: 1e9, onState: (f) => B.add(norm(f)) });
  const missing = [...A].filter((x) => !B.has(x)).length, extra = [...B].filter((x) => !A.has(x)).length;
  console.log(m, st, "hash-only", A.size, a.complete, "sleep", B.size, b.complete, "missing in sleep", missing, "extra", extra);
}
