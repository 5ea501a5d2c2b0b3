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
  },
});
