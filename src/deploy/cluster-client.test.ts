import { describe, expect, it } from "vitest";
import { RetiredVersionError } from "../core/errors.js";
import type { NodeStatus } from "../network/tcp/protocol.js";
import { VersionMismatchLinkError, checkLinkVersions } from "./cluster-client.js";

const node = (id: string, version: string, retired: readonly string[] = []): NodeStatus => ({
  id,
  version,
  epoch: retired.length,
  retired,
  neighbors: [],
  update: null,
  openRequests: 0,
  pid: 1,
});

describe("ctl link: which nodes may be linked (checkLinkVersions)", () => {
  it("refuses a node running a version the other retired, before the version mismatch check, naming both", () => {
    const fresh = node("c", "db@1");
    const updated = node("a", "db@2", ["db@1"]);
    let thrown: unknown;
    try {
      checkLinkVersions(fresh, updated);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(RetiredVersionError);
    expect(thrown).toMatchObject({ code: "RETIRED_VERSION", node: "c", version: "db@1" });
    expect((thrown as Error).message).toMatch(/^link: node "c" runs "db@1", which is retired \(an update replaced it\); the system runs "db@2" now/);
    expect(() => checkLinkVersions(updated, fresh)).toThrow(RetiredVersionError);
  });

  it("counts what any running node retired, so two old images are not linked to each other either", () => {
    const others = [node("a", "db@2", ["db@1"])];
    expect(() => checkLinkVersions(node("c", "db@1"), node("d", "db@1"), others)).toThrow(/node "c" runs "db@1", which is retired/);
  });

  it("links nodes at one current version; different current versions are still a mismatch; a back-out makes a version current", () => {
    expect(() => checkLinkVersions(node("a", "db@2", ["db@1"]), node("b", "db@2", ["db@1"]))).not.toThrow();
    expect(() => checkLinkVersions(node("a", "db@2"), node("b", "kv@1"))).toThrow(VersionMismatchLinkError);
    // Backed out: db@1 is current again (no longer in the host's retired list), db@2 is retired.
    const backedOut = node("a", "db@1", ["db@2"]);
    expect(() => checkLinkVersions(backedOut, node("c", "db@1"))).not.toThrow();
    expect(() => checkLinkVersions(backedOut, node("d", "db@2"))).toThrow(/node "d" runs "db@2", which is retired/);
  });

  it("takes a status without `retired` (a node of an older liveswap) as nothing retired", () => {
    const { retired: _r, ...old } = node("a", "db@1");
    expect(() => checkLinkVersions(old, node("b", "db@1"))).not.toThrow();
  });
});
