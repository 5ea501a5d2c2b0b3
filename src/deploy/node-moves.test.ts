import { describe, expect, it } from "vitest";
import type { MovePort } from "./node-moves.js";
import { NodeMoves } from "./node-moves.js";

/** A port whose node dials neighbour r3 at "10.0.0.3:7400" (where it knew it before r3 moved). */
function port(): MovePort & { commits: number } {
  const p = {
    commits: 0,
    id: "r4",
    address: "10.0.0.4:7400",
    addressOf: (peer: string) => (peer === "r3" ? "10.0.0.3:7400" : undefined),
    commitSoon: () => void p.commits++,
    commitNow: () => void p.commits++,
    redirect: (peer: string) => peer === "r3",
  };
  return p as unknown as MovePort & { commits: number };
}

describe("a node's knowledge of its neighbours' locations", () => {
  it("learns a neighbour's new location epoch from its hello, but not its address: the status leaves that guess out until ctl's relocate says where it is", () => {
    const p = port();
    const moves = new NodeMoves(p, { epoch: 0, peers: { r5: { address: "10.0.0.9:7400", epoch: 1 } } });
    expect(moves.fence("r3", 1)).toBeUndefined(); // the destination's hello, before relocate reached this node
    expect(moves.location.peers?.r3).toEqual({ address: "10.0.0.3:7400", epoch: 1, guessed: true });
    expect(p.commits).toBe(1);
    // A client reading this status must not take the old address for the new location (it would never look again).
    expect(moves.status()).toEqual({ epoch: 0, peers: { r5: { address: "10.0.0.9:7400", epoch: 1 } } });
    expect(moves.fence("r3", 0)).toMatch(/this process is an older location of it \(epoch 0\) and must not serve again/);
    // ctl's relocate: now the address is known, and the status says it.
    moves.relocate("r3", "10.0.0.7:7400", 1);
    expect(moves.status().peers).toEqual({ r3: { address: "10.0.0.7:7400", epoch: 1 }, r5: { address: "10.0.0.9:7400", epoch: 1 } });
  });
});

describe("a cancelled move", () => {
  it("leaves the process frozen until it exits: nothing is applied between the cancel's commit and the stop (the restart serves)", () => {
    const p = port();
    let exits = 0;
    Object.assign(p, { exit: () => void exits++, log: () => undefined });
    const moves = new NodeMoves(p, { epoch: 0, moving: { address: "10.0.0.8:7400", epoch: 1 } });
    expect(moves.frozen).toBe(true);
    moves.cancel();
    expect(exits).toBe(1);
    expect(p.commits).toBe(1);
    // Committed and shown: epoch 2, not moving (the restarted process reads it from the store).
    expect(moves.location).toEqual({ epoch: 2 });
    expect(moves.status()).toEqual({ epoch: 2 });
    // But this process is on its way out: a neighbour's hello, its frames, timers and requests are not taken here.
    expect(moves.frozen).toBe(true);
    expect(moves.refusal("request")?.message).toMatch(/node "r4" is moving to "10.0.0.4:7400"/);
    expect(() => moves.relocate("r3", "10.0.0.7:7400", 1)).toThrow(/is moving/);
  });
});
