// Lamport's mutual exclusion updated to Ricart-Agrawala while sessions run, then checked for safety.
// Run: npx tsx examples/mutex/run.ts [strategy]
import type { Strategy } from "liveswap";
import { runMutex } from "liveswap/scenarios";

const strategy = (process.argv[2] ?? "conservative") as Strategy;
const r = await runMutex({ strategy, seed: 1 });
console.log(`${strategy}: ${r.check.ok && r.safety.ok ? "safe" : "UNSAFE"}`);
