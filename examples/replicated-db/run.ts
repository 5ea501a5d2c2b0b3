// The paper's experiment with the built-in replicated database: seven replicas in a line, updated from the far end.
// Run: npx tsx examples/replicated-db/run.ts [strategy]
import type { Strategy } from "liveswap";
import { runExperiment } from "liveswap/scenarios";

const strategy = (process.argv[2] ?? "cut") as Strategy;
const r = await runExperiment({ strategy, seed: 1 });
const u = r.update;
const span = "error" in u ? u.error : `H-G ${(u.finishedAt - u.startedAt).toFixed(1)} ms`;
console.log(`${strategy}: null global reads ${r.reads.withNull}, checker ${r.check.ok ? "ok" : `${r.check.violations.length} violations`}, replicas identical ${r.replicasIdentical}, ${span}`);
