import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Examples program against the package by its name, as a user would.
    alias: {
      "liveswap/scenarios": fileURLToPath(new URL("./src/scenarios/index.ts", import.meta.url)),
      "liveswap/cluster": fileURLToPath(new URL("./src/deploy/index.ts", import.meta.url)),
      liveswap: fileURLToPath(new URL("./src/index.ts", import.meta.url)),
    },
  },
  test: {
    include: ["src/**/*.test.ts", "examples/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    // Child processes run the sources transpiled once (test/support/child-tree.ts), not tsx in each process.
    globalSetup: ["test/support/child-tree.ts"],
    // Two test files at a time even on 2 cores (vitest's default would be one): most of the suite's time is e2e
    // tests waiting on node processes, timers and heartbeats, not computing. Measured: the whole suite passed with
    // 2 workers in 700 s on a machine loaded by a benchmark (load average 8-12), where one worker took 687 s unloaded.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
