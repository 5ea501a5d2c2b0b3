// Runs one scale case and prints its result as JSON (see scale.ts: a child process per size, for its own peak RSS).
import type { Strategy } from "../core/update.js";
import { runScale } from "./scale.js";

const [nodes, strategy, seed] = process.argv.slice(2);
const r = await runScale(Number(nodes), strategy as Strategy, Number(seed ?? 1));
process.stdout.write(`${JSON.stringify(r)}\n`);
