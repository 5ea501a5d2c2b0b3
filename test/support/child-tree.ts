/**
 * Most child processes of the tests (nodes, ctl, cluster up) run the sources transpiled once per test run, not
 * through tsx: tsx transforms and resolves every module in every process, a second or more of CPU a process on this
 * machine, and the suite starts hundreds. The tree is esbuild's transform with the same tsconfig (what tsx runs, less
 * its source maps), laid out as the repository is (relative paths hold), inside it (packages resolve from its
 * node_modules).
 *
 * vitest runs this file as its global setup: it sets LIVESWAP_CHILD_MAIN (nodeCommand, src/deploy/cluster-processes.ts)
 * and LIVESWAP_CHILD_TREE (childModule below) for the test workers, and removes the tree at the end. A node whose
 * package is TypeScript still runs the sources through tsx (LIVESWAP_CHILD_MAIN_TS): its package imports them. In
 * watch mode, or when the sources do not transpile, there is no tree: every child runs tsx on the current sources.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import type { TestProject } from "vitest/node";
import { processAlive } from "../../src/core/process-alive.js";

const ROOT = resolve(import.meta.dirname, "../..");
/** What the tree holds: the sources and the tests' support code (packages, helpers), not the tests. */
const TRANSPILED = [join(ROOT, "src"), join(ROOT, "test", "support")];

/** `file` (a TypeScript module of src/ or test/support/) as the tests' children run it: its transpiled twin when there is a tree. */
export function childModule(file: string): string {
  const tree = process.env.LIVESWAP_CHILD_TREE;
  if (tree === undefined) return file;
  if (!file.endsWith(".ts") || !TRANSPILED.some((d) => file.startsWith(d + sep))) {
    throw new Error(`childModule: ${file} is not a TypeScript module of src/ or test/support/ (the transpiled tree holds only those); give its path as it is`);
  }
  const twin = join(tree, relative(ROOT, file)).replace(/\.ts$/, ".js");
  if (!existsSync(twin)) throw new Error(`childModule: ${file} has no transpiled twin ${twin}`);
  return twin;
}

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts") && !name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

export async function setup(project: TestProject): Promise<(() => void) | undefined> {
  // Watch mode runs this once: a tree would go stale at the first edit, while tsx reads the sources at each start.
  if (project.config.watch) return undefined;
  // One tree per test run: two runs at once (a developer's and a helper's) never share one. A run killed before its
  // teardown left its tree: removed once its process is gone.
  const trees = join(ROOT, "node_modules", ".cache", "liveswap-tests");
  mkdirSync(trees, { recursive: true });
  for (const pid of readdirSync(trees)) if (!processAlive(Number(pid))) rmSync(join(trees, pid), { recursive: true, force: true });
  const tree = join(trees, String(process.pid));
  rmSync(tree, { recursive: true, force: true });
  try {
    const { build } = await import("esbuild");
    await build({ entryPoints: TRANSPILED.flatMap((d) => sources(d)), outdir: tree, outbase: ROOT, format: "esm", platform: "node", target: "node20", logLevel: "silent" });
  } catch (e) {
    rmSync(tree, { recursive: true, force: true });
    const first = (e as { errors?: { text: string; location: { file: string; line: number } | null }[] }).errors?.[0];
    const why = first !== undefined ? `${first.location !== null ? `${first.location.file}:${first.location.line}: ` : ""}${first.text}` : String(e);
    console.warn(`test/support/child-tree.ts: the sources did not transpile (${why}); child processes run them through tsx`);
    return undefined;
  }
  // ES modules by declaration (under node_modules no package.json above says so: Node would be left to guess).
  writeFileSync(join(tree, "package.json"), '{ "type": "module" }\n');
  process.env.LIVESWAP_CHILD_TREE = tree;
  process.env.LIVESWAP_CHILD_MAIN = join(tree, "src", "cli", "main.js");
  process.env.LIVESWAP_CHILD_MAIN_TS = join(ROOT, "src", "cli", "main.ts");
  return () => rmSync(tree, { recursive: true, force: true });
}
