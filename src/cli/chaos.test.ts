import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildProgram } from "./program.js";

const cli = (...args: string[]): Promise<unknown> => buildProgram(() => undefined).parseAsync(["node", "liveswap", ...args]);

describe("liveswap chaos refuses bad input before it starts anything, naming the option and the fix", () => {
  it("a strategy the TCP runtime does not run, a node not in the run, a report directory it cannot write", async () => {
    await expect(cli("chaos", "--strategy", "synchronizer")).rejects.toThrow(/--strategy: the synchronizer runs in the simulator only; over TCP choose cut, conservative, snapshot, rollback or naive/);
    await expect(cli("chaos", "--nodes", "3", "--wipe-store", "r3")).rejects.toThrow(/--wipe-store: "r3" is no node of the run; the nodes are r0 \.\. r2/);
    const file = join(tmpdir(), `liveswap-chaos-not-a-dir-${process.pid}`);
    writeFileSync(file, "");
    await expect(cli("chaos", "--out", join(file, "reports"))).rejects.toThrow(/--out: cannot write the report under ".*": a part of that path is a file, not a directory; give a directory you can write to/);
  });
});
