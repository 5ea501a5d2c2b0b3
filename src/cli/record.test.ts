import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keysInit } from "../deploy/keys.js";
import { sealNodeRecord } from "../deploy/node-record-file.js";
import { buildProgram } from "./program.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ls-record-cli-"));
  keysInit(dir, ["r1"]);
  const pem = (f: string): string => readFileSync(join(dir, f), "utf8");
  const f = sealNodeRecord({ snapshot: { users: new Map([["u1", 1]]) }, log: [] }, { node: "r1", version: "db@1", epoch: 0, retired: [], locationEpoch: 0 }, { ca: pem("ca.crt"), cert: pem("r1.crt"), key: pem("r1.key") }, new Date("2026-12-01T00:00:00Z"));
  writeFileSync(join(dir, "r1.json"), JSON.stringify(f));
  writeFileSync(join(dir, "altered.json"), JSON.stringify({ ...f, version: "db@9" }));
  writeFileSync(join(dir, "cluster.yaml"), `nodes:\n  - { id: r1, address: "127.0.0.1:1", package: p.js, behavior: b, cert: r1.crt, key: r1.key }\nlinks: []\ntls: { ca: ca.crt, control: { cert: control.crt, key: control.key } }\n`);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(...args: string[]): Promise<string[]> {
  const lines: string[] = [];
  await buildProgram((l) => lines.push(l)).parseAsync(["node", "liveswap", ...args]);
  return lines;
}

describe("liveswap record inspect", () => {
  it("shows the header, and with --cluster verifies it as an import would (and the state with --state)", async () => {
    const lines = await cli("record", "inspect", join(dir, "r1.json"), "--cluster", join(dir, "cluster.yaml"), "--state");
    expect(lines[0]).toBe("node r1, version db@1 (epoch 0), location epoch 0");
    expect(lines).toContain('verified: signed by "r1" with a certificate of this cluster\'s CA, unaltered');
    expect(lines.at(-1)).toContain('"Map"');
  });

  it("refuses an altered record and a missing file in words", async () => {
    await expect(cli("record", "inspect", join(dir, "altered.json"), "--cluster", join(dir, "cluster.yaml"))).rejects.toThrow(/altered\.json: was altered after it was signed/);
    await expect(cli("record", "inspect", join(dir, "nope.json"))).rejects.toThrow(/nope\.json: cannot be read \(no such file\)/);
  });
});
