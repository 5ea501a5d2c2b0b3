import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkAgainst, DEFAULT_MAX_LINES, longFunctions, readAllowlist } from "../scripts/long-functions.mjs";
import { InternalError, LiveswapError } from "../src/core/errors.js";
import { ClusterStartError } from "../src/deploy/cluster-processes.js";
import { ClusterFileError } from "../src/deploy/cluster-file.js";
import { KeysError } from "../src/deploy/keys.js";
import { PackageContentsError, PackageRefusedError } from "../src/deploy/update-package.js";
import { UnsupportedValueError } from "../src/network/tcp/codec.js";
import { FrameTooLargeError } from "../src/network/tcp/frame.js";
import { BadAddressError } from "../src/network/tcp/sockets.js";

/**
 * The layer rule (docs/ARCHITECTURE.md, "Layers") is checked
 * by dependency-cruiser in `npm run lint:layers`. These tests prove the check
 * can fail (a fixture tree with deliberate upward imports is refused, rule by
 * rule) and that the real tree passes it with no exception.
 * They run the CLI exactly as CI does, so the config file and the tsconfig path
 * aliases are what is under test.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const DEPCRUISE = join(ROOT, "node_modules", "dependency-cruiser", "bin", "dependency-cruise.mjs");
const CONFIG = ".dependency-cruiser.cjs";

interface Violation {
  readonly type: string;
  readonly from: string;
  readonly to: string;
  readonly rule: { readonly name: string; readonly severity: string };
}

async function cruise(cwd: string, extra: readonly string[] = []): Promise<Violation[]> {
  const args = [DEPCRUISE, "src", "examples", "test", "--config", CONFIG, "--output-type", "json", ...extra];
  // Exit code = number of errors; the JSON on stdout is the answer either way.
  const { stdout } = await promisify(execFile)(process.execPath, args, { cwd, maxBuffer: 64 * 1024 * 1024 }).catch(
    (e: unknown) => e as { stdout: string },
  );
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

/** "rule: from -> to", an npm module shown as npm:<name> (where it resolves inside node_modules is not the point). */
const key = (v: Violation): string => `${v.rule.name}: ${v.from} -> ${v.to.replace(/^(\.\.\/)*node_modules\/((@[^/]+\/)?[^/]+)\/.*$/, "npm:$2")}`;

/** One file per entry; each comment says which rule the import must trip, or that it is allowed. */
const FIXTURE: Readonly<Record<string, string>> = {
  "src/core/ids.ts": 'import type { System } from "../system.js"; // layer-core: core imports system.ts\nexport type NodeId = string;\nexport type S = System;\n',
  "src/core/trace/event.ts": 'import type { NodeId } from "../ids.js"; // allowed: core/trace is core\nexport type Ev = NodeId;\n',
  "src/system.ts": 'import { Sim } from "./network/sim/sim.js"; // allowed\nexport class System { readonly sim = Sim; }\n',
  "src/index.ts": 'export { System } from "./system.js";\nexport type { NodeId } from "./core/ids.js";\n',
  "src/node/swap-node.ts": 'import type { Strategy } from "../update/strategy.js"; // layer-node: node imports update\nexport type N = Strategy;\n',
  "src/node/helper-user.ts": 'import { help } from "../../test/support/helper.js"; // no-test-code-in-src\nexport const h = help;\n',
  "src/update/strategy.ts": 'import type { Ev } from "../core/trace/event.js"; // allowed\nexport type Strategy = Ev;\n',
  "src/update/agent.ts": 'import type { N } from "../node/swap-node.js"; // allowed, but with layer-node above it closes a folder cycle\nexport type A = N;\n',
  "src/update/strategy.test.ts":
    'import { help } from "../../test/support/helper.js"; // allowed: a test file is exempt\nimport { main } from "../cli/main.js"; // allowed: exempt\nexport const t = [help, main];\n',
  "src/runtime/host.ts": 'import { t } from "../update/strategy.test.js"; // no-test-code-in-src\nexport const x = t;\n',
  "src/network/sim/sim.ts": 'import { Tcp } from "../tcp/tcp.js"; // network-transports-apart\nexport const Sim = Tcp;\n',
  "src/network/tcp/tcp.ts": 'import type { NodeId } from "../../core/ids.js"; // allowed\nexport const Tcp: NodeId = "tcp";\n',
  "src/check/checker.ts": 'import type { Ev } from "../core/trace/event.js"; // allowed\nexport type Checked = Ev;\n',
  "src/deploy/daemon.ts": 'import { System } from "../system.js"; // layer-deploy: deploy imports system.ts\nexport const d = System;\n',
  "src/harness/fuzz.ts": 'import { relay } from "../scenarios/relay.js"; // layer-harness: harness imports scenarios\nexport const f = relay;\n',
  "src/scenarios/relay.ts": 'import type { NodeId } from "../index.js"; // allowed: the public API\nexport const relay: NodeId = "r";\n',
  "src/scenarios/db/db.ts": 'import type { NodeId } from "../../index.js"; // allowed for a scenario, but it drags System into package.ts\nexport const db: NodeId = "db";\n',
  "src/scenarios/db/package.ts": 'import { db } from "./db.js"; // tcp-package-closure: reaches src/system.ts through db.ts and index.ts\nexport const behaviors = { db };\n',
  "src/viz/view.ts": 'import type { Checked } from "../check/checker.js"; // allowed\nexport type V = Checked;\n',
  "src/widgets/thing.ts": 'import type { NodeId } from "../core/ids.js"; // layer-unplaced: no layer has a widgets folder\nexport type W = NodeId;\n',
  "src/cli/main.ts": 'import { System } from "../index.js"; // allowed: the cli is on top\nexport const main = System;\n',
  "examples/demo/run.ts": 'import { System } from "../../src/index.js"; // examples-use-the-package-name\nexport const s = System;\n',
  "examples/demo/ok.ts":
    'import { readFileSync } from "node:fs"; // allowed\nimport { System } from "liveswap"; // allowed\nimport { s } from "./run.js"; // allowed: its own folder\nexport const ok = [readFileSync, System, s];\n',
  "examples/demo/npm.ts": 'import { parse } from "yaml"; // examples-import-only-liveswap: an npm package\nexport const p = parse;\n',
  "src/core/typo.ts": 'import { x } from "./no-such-module.js"; // not-to-unresolvable\nexport const y = x;\n',
  "test/support/helper.ts": "export const help = 1;\n",
  "tsconfig.json": JSON.stringify({
    compilerOptions: { module: "nodenext", moduleResolution: "nodenext", strict: true, paths: { liveswap: ["./src/index.ts"] } },
    include: ["src", "examples", "test"],
  }),
};

describe("the layer rule (dependency-cruiser)", () => {
  let fixture: string;
  let fixtureViolations: Violation[];
  let realViolations: Violation[];

  beforeAll(async () => {
    // Inside the repository (tmp/ is git-ignored) so that an npm import of the fixture resolves to node_modules.
    mkdirSync(join(ROOT, "tmp"), { recursive: true });
    fixture = mkdtempSync(join(ROOT, "tmp", "layers-"));
    for (const [file, text] of Object.entries(FIXTURE)) {
      mkdirSync(dirname(join(fixture, file)), { recursive: true });
      writeFileSync(join(fixture, file), text);
    }
    copyFileSync(join(ROOT, CONFIG), join(fixture, CONFIG));
    [fixtureViolations, realViolations] = await Promise.all([cruise(fixture), cruise(ROOT)]);
    // Two cruises take ~4 s on an idle machine; the margin is for a CI machine running other suites at once.
  }, 60_000);

  afterAll(() => rmSync(fixture, { recursive: true, force: true }));

  it("refuses each deliberate upward import of the fixture, naming the rule", () => {
    const errors = fixtureViolations.filter((v) => v.rule.severity === "error").map(key);
    expect(errors).toEqual(
      expect.arrayContaining([
        "layer-core: src/core/ids.ts -> src/system.ts",
        "layer-node: src/node/swap-node.ts -> src/update/strategy.ts",
        "no-test-code-in-src: src/node/helper-user.ts -> test/support/helper.ts",
        "no-test-code-in-src: src/runtime/host.ts -> src/update/strategy.test.ts",
        "network-transports-apart: src/network/sim/sim.ts -> src/network/tcp/tcp.ts",
        "layer-deploy: src/deploy/daemon.ts -> src/system.ts",
        "layer-harness: src/harness/fuzz.ts -> src/scenarios/relay.ts",
        "tcp-package-closure: src/scenarios/db/package.ts -> src/system.ts",
        "layer-unplaced: src/widgets/thing.ts -> src/core/ids.ts",
        "examples-use-the-package-name: examples/demo/run.ts -> src/index.ts",
        "examples-import-only-liveswap: examples/demo/npm.ts -> npm:yaml",
        "not-to-unresolvable: src/core/typo.ts -> ./no-such-module.js",
        // node -> update -> node: a folder cycle
        "no-folder-cycles: src/node -> src/update",
      ]),
    );
  });

  it("lets the fixture's allowed imports through (tests are exempt; examples use the package name)", () => {
    const allowedFrom = [
      "src/core/trace/event.ts",
      "src/update/strategy.ts",
      "src/update/agent.ts",
      "src/update/strategy.test.ts",
      "src/network/tcp/tcp.ts",
      "src/check/checker.ts",
      "src/scenarios/relay.ts",
      "src/viz/view.ts",
      "src/cli/main.ts",
      "examples/demo/ok.ts",
    ];
    const dependencyRules = fixtureViolations.filter((v) => v.type === "dependency");
    expect(dependencyRules.filter((v) => allowedFrom.includes(v.from)).map(key)).toEqual([]);
  });

  it("passes on the real tree: no violation, no warning", () => {
    expect(realViolations.map(key)).toEqual([]);
  });
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const path = join(dir, d.name);
    if (d.isDirectory()) return sourceFiles(path);
    return d.name.endsWith(".ts") && !d.name.endsWith(".test.ts") ? [path] : [];
  });
}

describe("one error family", () => {
  it("every error class of src/ extends LiveswapError (but LiveswapError itself)", () => {
    const direct: string[] = [];
    for (const file of sourceFiles(join(ROOT, "src"))) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/class\s+(\w+)\s+extends\s+(\w*Error)\b/g)) {
        if (m[1] === "LiveswapError" || m[2] === "LiveswapError") continue;
        // A subclass of another project error is in the family if that one is; the runtime check below covers ours.
        if (m[2] !== "Error" && !/^(Type|Range|Syntax|Reference|Eval|URI|Aggregate)Error$/.test(m[2] ?? "")) continue;
        direct.push(`${relative(ROOT, file).replaceAll("\\", "/")}: ${m[1]} extends ${m[2]}`);
      }
    }
    expect(direct).toEqual([]);
  });

  it.each([
    [new PackageRefusedError("unsigned"), "PACKAGE_REFUSED", "PackageRefusedError"],
    [new PackageContentsError("pkg.ts", "exports nothing"), "PACKAGE_CONTENTS", "PackageContentsError"],
    [new KeysError("no key"), "KEYS", "KeysError"],
    [new ClusterFileError("bad file"), "CLUSTER_FILE", "ClusterFileError"],
    [new ClusterStartError("a", "did not answer"), "CLUSTER_START", "ClusterStartError"],
    [new FrameTooLargeError(1 << 30), "FRAME_TOO_LARGE", "FrameTooLargeError"],
    [new BadAddressError("nowhere", "listen"), "BAD_ADDRESS", "BadAddressError"],
    [new UnsupportedValueError("JSON", "cannot carry a symbol"), "CODEC_UNSUPPORTED_VALUE", "UnsupportedValueError"],
    [new InternalError("an invariant broke"), "INTERNAL", "InternalError"],
  ])("%s is a LiveswapError with its stable code and name", (error, code, name) => {
    expect(error).toBeInstanceOf(LiveswapError);
    expect(error.code).toBe(code);
    expect(error.name).toBe(name);
  });
});

describe("function length (scripts/long-functions.mjs)", () => {
  it(`no function of src/ is over ${DEFAULT_MAX_LINES} lines unless scripts/long-functions-allowlist.json says why`, () => {
    const { unlisted, stale, unexplained } = checkAgainst(longFunctions(), readAllowlist());
    // Split a new long function (or allowlist its key with a reason); delete the entry of one that got short.
    expect(unlisted.map((f) => `${f.file}:${f.line} ${f.name} (${f.lines} lines)`)).toEqual([]);
    expect(stale).toEqual([]);
    expect(unexplained).toEqual([]);
  });

  it("finds a long method, arrow and nested callback, by a name that does not move with its line", () => {
    const dir = mkdtempSync(join(tmpdir(), "liveswap-long-"));
    try {
      const body = (n: number): string => Array.from({ length: n }, (_, i) => `    x += ${i};`).join("\n");
      const file = join(dir, "sample.ts");
      writeFileSync(
        file,
        [
          "export class Host {",
          "  run(x: number): number {",
          body(90),
          "    return x;",
          "  }",
          "  short(): number { return 1; }",
          "}",
          "export const handler = (x: number): number => {",
          "  [1].forEach(() => {",
          body(85),
          "  });",
          "  return x;",
          "};",
        ].join("\n"),
      );
      const found = longFunctions({ files: [file] }).map((f) => `${f.name}:${f.line}:${f.lines}`);
      expect(found.sort()).toEqual(["Host.run:2:93", "handler.[1].forEach(callback):98:87", "handler:97:90"].sort());
      const check = checkAgainst(longFunctions({ files: [file] }), [{ function: "gone.ts: f", reason: "" }]);
      expect(check.unlisted).toHaveLength(3);
      expect(check.stale).toEqual(["gone.ts: f"]);
      expect(check.unexplained).toEqual(["gone.ts: f"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
