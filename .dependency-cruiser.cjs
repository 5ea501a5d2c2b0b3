// @ts-check
/**
 * The layer rule of docs/ARCHITECTURE.md ("Layers"), checked
 * in CI by `npm run lint:layers` (which `npm test` runs first).
 *
 * Layers, bottom to top; a module may import its own layer and the ones listed
 * for it, never one above:
 *
 *   core                      (core/trace is inside core)
 *   node                      core
 *   update                    core, node
 *   runtime                   core, node, update
 *   network/sim, network/tcp  core only (and neither the other)
 *   check                     core
 *   system.ts, deploy/        core, node, update, runtime, network, check
 *   harness/                  all of the above and system.ts
 *   scenarios/                core, check, harness, system.ts, index.ts (the public API, as a user writes them)
 *   viz/                      core, check
 *   chaos/                    anything but bench and cli (the Jepsen-style harness on real processes)
 *   console/                  anything but chaos, bench and cli (the operator's web view)
 *   bench/                    anything but cli
 *   cli/, index.ts            anything in src
 *
 * Test files (*.test.ts) and test/support are exempt from the layers, but no
 * production module may import them. Examples use the package by its name only.
 *
 * Paths are matched relative to the repository root with forward slashes.
 */




/** A test file: exempt from the layer rules (it may reach anything it tests). */
const TEST_FILE = "\\.test\\.ts$";

/**
 * One "only imports these" rule: a dependency from `from` (a test file
 * excepted) to a module of src/ that `allowed` does not match is an error.
 * @param {string} name
 * @param {string} from regex of the importing modules
 * @param {string} allowed regex of the src/ modules they may import
 * @param {string} comment why, as printed by dependency-cruiser
 * @returns {import("dependency-cruiser").IForbiddenRuleType}
 */
function layer(name, from, allowed, comment) {
  return {
    name,
    comment,
    severity: "error",
    from: { path: from, pathNot: TEST_FILE },
    to: { path: "^src/", pathNot: allowed },
  };
}

/** The folders a layer's own modules live in (src/<x>/). */
const dirs = (/** @type {string[]} */ ...names) => `^src/(${names.join("|")})/`;
const BELOW_SYSTEM = ["core", "node", "update", "runtime", "network", "check"];

/** Every place a src/ module may live; anything else has no layer yet and is refused. */
const PLACED = `${dirs(...BELOW_SYSTEM, "deploy", "harness", "scenarios", "viz", "console", "chaos", "bench", "cli")}|^src/(system|index)\\.ts$`;

/** @type {import("dependency-cruiser").IConfiguration} */
module.exports = {
  forbidden: [
    layer("layer-core", "^src/core/", dirs("core"), "core is the bottom layer: it imports nothing else of src (core/trace is part of core)"),
    layer("layer-node", "^src/node/", dirs("core", "node"), "node (the swap-enabled node, the agent contract) imports core only"),
    layer("layer-update", "^src/update/", dirs("core", "node", "update"), "update (strategies, coordinator) imports core and node"),
    layer("layer-runtime", "^src/runtime/", dirs("core", "node", "update", "runtime"), "runtime (node host, control plane) imports core, node and update"),
    layer("layer-network", "^src/network/", dirs("core", "network"), "a network only moves envelopes and fires timers: it imports core, never a host, strategy or node"),
    {
      name: "network-transports-apart",
      comment: "network/sim and network/tcp are independent transports: neither imports the other",
      severity: "error",
      from: { path: "^src/network/([^/]+)/", pathNot: TEST_FILE },
      to: { path: "^src/network/", pathNot: "^src/network/$1/" },
    },
    layer("layer-check", "^src/check/", dirs("core", "check"), "the checker judges a trace (core/trace) and nothing else"),
    layer("layer-system", "^src/system\\.ts$", dirs(...BELOW_SYSTEM), "system.ts (the simulator facade) sits on the runtime layers, beside deploy/ and never on it"),
    layer("layer-deploy", "^src/deploy/", dirs(...BELOW_SYSTEM, "deploy"), "deploy (daemon, ctl over tcp) sits on the runtime layers: not on system.ts, harness, scenarios, viz, bench or cli"),
    layer(
      "layer-harness",
      "^src/harness/",
      `${dirs(...BELOW_SYSTEM, "deploy", "harness")}|^src/system\\.ts$`,
      "harness (fuzz, explore, scenario contract) drives a System: never scenarios, viz, bench or cli (scenarios plug into it, not the reverse)",
    ),
    layer(
      "layer-scenarios",
      "^src/scenarios/",
      `${dirs("core", "check", "harness", "scenarios")}|^src/(system|index)\\.ts$`,
      "a built-in scenario is written like user code (core, the public API, system.ts) and plugs into harness; never viz, bench, cli or deploy",
    ),
    {
      name: "tcp-package-closure",
      comment:
        "a TCP package module is bundled into every node daemon: everything it reaches must be scenario code or core (no System, no simulator)",
      severity: "error",
      from: { path: "^src/scenarios/[^/]+/package\\.ts$" },
      to: { path: "^src/", pathNot: `${dirs("core", "scenarios")}`, reachable: true },
    },
    layer("layer-viz", "^src/viz/", dirs("core", "check", "viz"), "the viewer draws a trace and its violations: core and check only"),
    {
      name: "layer-chaos",
      comment: "chaos drives real clusters and judges them; bench and the cli sit on top of it, not under it",
      severity: "error",
      from: { path: "^src/chaos/", pathNot: TEST_FILE },
      to: { path: "^src/(bench|cli)/" },
    },
    {
      name: "layer-console",
      comment: "the console shows a cluster (deploy) or a simulated run (scenarios), drawn with viz; chaos, bench and the cli sit on top of it, not under it",
      severity: "error",
      from: { path: "^src/console/", pathNot: TEST_FILE },
      to: { path: "^src/(chaos|bench|cli)/" },
    },
    {
      name: "layer-bench",
      comment: "bench measures the runtime; the cli sits on top of it, not under it",
      severity: "error",
      from: { path: "^src/bench/", pathNot: TEST_FILE },
      to: { path: "^src/cli/" },
    },
    {
      name: "layer-unplaced",
      comment: "this module of src/ is in no layer of docs/ARCHITECTURE.md; put it in one (and in this file)",
      severity: "error",
      from: { path: "^src/", pathNot: `${PLACED}|${TEST_FILE}` },
      to: {},
    },
    {
      name: "no-test-code-in-src",
      comment: "production code never imports a test file or test support (they are not shipped)",
      severity: "error",
      from: { path: "^src/", pathNot: TEST_FILE },
      to: { path: `${TEST_FILE}|^test/` },
    },
    {
      name: "src-stays-in-src",
      comment: "src/ is the package: it never imports the examples, the top-level tests or the benchmarks",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(examples|bench)/" },
    },
    {
      name: "examples-use-the-package-name",
      comment: "an example programs against `liveswap` / `liveswap/scenarios` / `liveswap/cluster` as a user would, never a relative path into src/",
      severity: "error",
      from: { path: "^examples/" },
      to: { path: "^src/", dependencyTypesNot: ["aliased-tsconfig-paths"] },
    },
    {
      name: "examples-import-only-liveswap",
      comment: "an example imports the package's public entry points, node builtins and files of its own example folder",
      severity: "error",
      from: { path: "^examples/([^/]+)/", pathNot: TEST_FILE },
      to: { pathNot: "^src/(index|scenarios/index|deploy/index)\\.ts$|^examples/$1/", dependencyTypesNot: ["core"] },
    },
    {
      name: "no-folder-cycles",
      comment: "folders are layers: a cycle between two folders means one of them imports a layer above it",
      severity: "error",
      scope: "folder",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "no-circular",
      comment: "a module cycle makes load order matter and hides which layer owns what",
      severity: "error",
      from: { pathNot: TEST_FILE },
      to: { circular: true },
    },
    {
      name: "not-to-unresolvable",
      comment: "an import that resolves to nothing: a typo, or a missing package or path alias",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // No includeOnly: npm packages and node builtins stay in the graph, so the examples rule sees them.
    // Test code is not followed: its imports (anything it tests) would make folder cycles that are
    // not layer breaks (viz's test runs a scenario). An import *of* test code is still seen.
    doNotFollow: { path: ["node_modules", TEST_FILE, "^test/"] },
    // Type-only imports count: `import type` from a layer above is still an upward dependency.
    // This needs TypeScript's own parser; dependency-cruiser 17.4.3 accepts TypeScript >=2 <7, so 6.0.3 loads.
    tsPreCompilationDeps: true,
    // Resolves the `liveswap`, `liveswap/scenarios` and `liveswap/cluster` path aliases the examples use.
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
