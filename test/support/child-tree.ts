/**
 * The tests' child processes (nodes, ctl, cluster up) run the sources transpiled once per test run, not through tsx:
 * tsx transforms and resolves every module in every process, a second or more of CPU a process on this machine, and
 * the suite starts hundreds. The transpiled tree is what tsx would run (esbuild, the same tsconfig), laid out as the
 * repository is (relative paths hold), inside it (so packages resolve from its node_modules).
 *
 * vitest runs this file as its global setup: it sets LIVESWAP_CHILD_MAIN (nodeCommand, src/deploy/cluster-processes.ts)
 * and LIVESWAP_CHILD_TREE (childModule below) for the test workers, and removes the tree at the end. A node whose
 * package is TypeScript still runs the sources through tsx (LIVESWAP_CHILD_MAIN_TS): its package imports them.
 */
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");

/** `file` (TypeScript in this repository) as the tests' children run it: its transpiled twin, or itself without a tree. */
export function childModule(file: string): string {
  const tree = process.env.LIVESWAP_CHILD_TREE;
  if (tree === undefined || !file.endsWith(".ts")) return file;
  return join(tree, relative(ROOT, file)).replace(/\.ts$/, ".js");
}

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts") && !name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function setup(): Promise<() => void> {
  // One tree per test run: two runs at once (a developer's and a helper's) never share one. A run killed before its
  // teardown left its tree: removed once its process is gone.
  const trees = join(ROOT, "node_modules", ".cache", "liveswap-tests");
  mkdirSync(trees, { recursive: true });
  for (const pid of readdirSync(trees)) if (!alive(Number(pid))) rmSync(join(trees, pid), { recursive: true, force: true });
  const tree = join(trees, String(process.pid));
  mkdirSync(tree, { recursive: true });
  const { build } = await import("esbuild");
  await build({
    entryPoints: [...sources(join(ROOT, "src")), ...sources(join(ROOT, "test", "support"))],
    outdir: tree,
    outbase: ROOT,
    format: "esm",
    platform: "node",
    target: "node20",
    logLevel: "warning",
  });
  process.env.LIVESWAP_CHILD_TREE = tree;
  process.env.LIVESWAP_CHILD_MAIN = join(tree, "src", "cli", "main.js");
  process.env.LIVESWAP_CHILD_MAIN_TS = join(ROOT, "src", "cli", "main.ts");
  return () => rmSync(tree, { recursive: true, force: true });
}
