/**
 * The README's shown outputs are what the programs print: every fenced block
 * of README.md that starts with a `$ command` line is a transcript, and this
 * test runs each command and compares what it prints with the lines under it.
 * A README edit or a program change that makes them differ fails here, so the
 * two cannot drift (issue 13: the quick start printed an object where the
 * README showed a line).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildProgram } from "../src/cli/program.js";
import { parseCluster } from "../src/deploy/cluster-file.js";

const ROOT = join(import.meta.dirname, "..");
const README = readFileSync(join(ROOT, "README.md"), "utf8");

interface Step {
  readonly command: string;
  readonly expected: string;
}

/** Every transcript block: its commands, each with the lines shown under it (up to the next command). */
function transcripts(markdown: string): Step[][] {
  const blocks = [...markdown.matchAll(/^```[a-z]*\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? "");
  return blocks
    .filter((b) => b.startsWith("$ "))
    .map((b) => {
      const steps: { command: string; lines: string[] }[] = [];
      for (const line of b.replace(/\n$/, "").split("\n")) {
        if (line.startsWith("$ ")) steps.push({ command: line.slice(2).trim(), lines: [] });
        else steps.at(-1)?.lines.push(line);
      }
      return steps.map((s) => ({ command: s.command, expected: s.lines.join("\n") }));
    });
}

/** Trailing spaces and the blank lines at the end are not part of what a reader compares. */
const normal = (text: string): string =>
  text
    .split("\n")
    .map((l) => l.trimEnd())
    .join("\n")
    .replace(/\n+$/, "");

/** `liveswap ARGS` (and `npm run demo`, the same command) in this process: the binary's program, its output collected. */
async function liveswap(args: readonly string[]): Promise<string> {
  const lines: string[] = [];
  const exitCode = process.exitCode;
  try {
    await buildProgram((l) => lines.push(l)).parseAsync(["node", "liveswap", ...args]);
  } finally {
    // A command that reports a violation sets the exit code; the test judges the output, not the runner's exit.
    process.exitCode = exitCode;
  }
  return lines.join("\n");
}

/** A quick-start example runs as the README says, in a process of its own (it is a program with top-level await). */
async function tsx(file: string): Promise<string> {
  const { stdout } = await promisify(execFile)(join(ROOT, "node_modules", ".bin", "tsx"), [file], { cwd: ROOT });
  return stdout;
}

/** The commands the README shows, and how this test runs each; a command not listed fails the test. */
function run(command: string): Promise<string> {
  const words = command.split(/\s+/);
  if (command === "npm run demo") return liveswap(["demo"]);
  if (words[0] === "liveswap") return liveswap(words.slice(1));
  if (words[0] === "npx" && words[1] === "tsx" && words[2]?.startsWith("examples/")) return tsx(join(ROOT, words[2]));
  throw new Error(`README shows "$ ${command}", which this test does not know how to run: add it to run() in test/readme.test.ts`);
}

describe("README.md", () => {
  // The commands write relative paths (--trace out/...): run them in a directory of their own.
  const cwd = process.cwd();
  const dir = mkdtempSync(join(tmpdir(), "liveswap-readme-"));
  beforeAll(() => process.chdir(dir));
  afterAll(() => {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  });

  it("shows examples/quickstart/quickstart.ts verbatim", () => {
    const at = README.indexOf("This is\n`examples/quickstart/quickstart.ts`");
    expect(at, "the README introduces the quick start with 'This is `examples/quickstart/quickstart.ts`'").toBeGreaterThan(0);
    const block = /```ts\n([\s\S]*?)```/.exec(README.slice(at))?.[1];
    expect(block).toBe(readFileSync(join(ROOT, "examples/quickstart/quickstart.ts"), "utf8"));
  });

  it("the NATS walkthrough's cluster file is one the cluster file parser takes (every node reached by id over NATS)", () => {
    const block = /cat > cluster\.yaml <<'YAML'\n([\s\S]*?)^YAML$/m.exec(README)?.[1];
    expect(block, "the README's NATS walkthrough writes cluster.yaml with a here-document").toBeDefined();
    const c = parseCluster(block as string, join(dir, "cluster.yaml"));
    expect(c.transport?.kind).toBe("nats");
    expect(c.nodes.map((n) => n.address)).toEqual(["nats:r0", "nats:r1", "nats:r2"]);
  });

  const all = transcripts(README);
  it("has the transcripts this test is for (the quick start, npm run demo, liveswap check)", () => {
    const commands = all.flat().map((s) => s.command);
    expect(commands).toContain("npx tsx examples/quickstart/quickstart.ts");
    expect(commands).toContain("npm run demo");
    expect(commands.some((c) => c.startsWith("liveswap check "))).toBe(true);
  });

  for (const steps of all) {
    it(`prints what it shows for: ${steps.map((s) => `$ ${s.command}`).join("; ")}`, async () => {
      for (const s of steps) expect(normal(await run(s.command)), `$ ${s.command}`).toBe(normal(s.expected));
    }, 60_000);
  }
});
