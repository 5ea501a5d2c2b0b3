import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as entry from "liveswap/cluster";

const ROOT = join(import.meta.dirname, "..", "..");
const json = (file: string): Record<string, unknown> => JSON.parse(readFileSync(join(ROOT, file), "utf8")) as Record<string, unknown>;

describe("the package subpath liveswap/cluster", () => {
  it("package.json exports it where the build puts src/deploy/index.ts, and the source aliases point at that file", () => {
    expect((json("package.json").exports as Record<string, unknown>)["./cluster"]).toEqual({
      types: "./dist/src/deploy/index.d.ts",
      import: "./dist/src/deploy/index.js",
    });
    // tsc compiles src/ with the repository as its root into dist/: src/deploy/index.ts becomes dist/src/deploy/index.js.
    const build = json("tsconfig.build.json") as { compilerOptions: Record<string, unknown>; include: string[] };
    expect(build.compilerOptions).toMatchObject({ rootDir: ".", outDir: "dist" });
    expect(build.include).toContain("src");
    const paths = (json("tsconfig.json").compilerOptions as { paths: Record<string, string[]> }).paths;
    expect(paths["liveswap/cluster"]).toEqual(["./src/deploy/index.ts"]);
    expect(readFileSync(join(ROOT, "vitest.config.ts"), "utf8")).toContain('"liveswap/cluster": fileURLToPath(new URL("./src/deploy/index.ts"');
  });

  it("exports the client, its defaults, the errors its calls reject with, and a local cluster for tests", () => {
    expect(Object.keys(entry).sort()).toEqual([
      "BusyError",
      "ClusterClientClosedError",
      "DEFAULT_COMMAND_TIMEOUT_MS",
      "DEFAULT_REQUEST_TIMEOUT_MS",
      "DEFAULT_RETENTION",
      "DEFAULT_RETRY",
      "ForgetRefusedError",
      "LiveswapError",
      "NoUpdateError",
      "NodeAliveError",
      "NodeNotAnsweringError",
      "NodeUnreachableError",
      "PrepareDeadlineError",
      "PrepareFailedError",
      "RemoteError",
      "RequestExpiredError",
      "RequestFailedError",
      "RequestIdReusedError",
      "RequestTimeoutError",
      "TakeoverRefusedError",
      "UpdateAbortedError",
      "UpdateFailedError",
      "UpdateHaltedError",
      "UpdateNotAbortableError",
      "connectCluster",
      "startLocalCluster",
    ]);
  });

  it("refuses a configuration naming no node, or a bad address, or an unreadable TLS file, naming the field", async () => {
    await expect(entry.connectCluster({ nodes: {} })).rejects.toThrow(/option nodes: no node given/);
    await expect(entry.connectCluster({ nodes: { r0: "nowhere" } })).rejects.toThrow(/nodes\.r0: "nowhere" is not an address; write host:port/);
    await expect(entry.connectCluster({ nodes: { r0: "127.0.0.1:1" }, tls: { ca: "/no/ca.crt", cert: "c", key: "k" } })).rejects.toThrow(
      /option tls\.ca: cannot read \/no\/ca\.crt .*give a PEM file's path or the PEM text/,
    );
    await expect(entry.connectCluster({ cluster: "/no/cluster.yaml" })).rejects.toThrow(/cluster file \/no\/cluster\.yaml: cannot read it/);
  });
});
