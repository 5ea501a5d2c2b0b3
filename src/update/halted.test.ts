import { describe, expect, it } from "vitest";
import {
  defineBehavior,
  defineUpdate,
  ResumeRefusedError,
  System,
  UpdateHaltedError,
  UpdateHaltedInProgressError,
  type Strategy,
  type Update,
} from "../index.js";

/**
 * A transfer that passed prepare's dry run but throws at swap time halts the update safely (docs/design.md, "The
 * life of an update"): update() rejects naming the node, the node stays old and its strategy keeps every flow across
 * the epoch boundary waiting, nothing is executed by the wrong epoch, configuration waits, and resume() with a
 * corrected transfer finishes the update.
 */
type Token = { readonly hops: number };
type Token2 = { readonly ttl: number; readonly v: 2 };
const v1 = defineBehavior<{ seen: number }, Token, "go", number>({
  version: "tok@1",
  init: () => ({ seen: 0 }),
  receive(s, m, _from, ctx) {
    if (m.hops > 0) for (const n of ctx.neighbors()) ctx.send(n, { hops: m.hops - 1 });
    return { seen: s.seen + 1 };
  },
  request(s, _q, id, ctx) {
    for (const n of ctx.neighbors()) ctx.send(n, { hops: 2 });
    ctx.respond(id, s.seen);
    return s;
  },
});
const v2 = defineBehavior<{ seen: number; v: 2 }, Token2, "go", number>({
  version: "tok@2",
  init: () => ({ seen: 0, v: 2 }),
  receive(s, m, _from, ctx) {
    if (m.v !== 2) throw new Error(`an old message reached new code: ${JSON.stringify(m)}`);
    if (m.ttl > 0) for (const n of ctx.neighbors()) ctx.send(n, { ttl: m.ttl - 1, v: 2 });
    return { ...s, seen: s.seen + 1 };
  },
  request(s, _q, id, ctx) {
    for (const n of ctx.neighbors()) ctx.send(n, { ttl: 2, v: 2 });
    ctx.respond(id, s.seen);
    return s;
  },
});
const message = (old: Token): Token2[] => [{ ttl: old.hops, v: 2 }];

/** Throws at `node`'s real swap (its second call: the first is prepare's dry run). */
function failingAt(node: string): Update {
  let calls = 0;
  return defineUpdate({
    from: v1,
    to: v2,
    message,
    state: (s, { self }) => {
      if (self === node && ++calls === 2) throw new Error(`no room for ${self}'s state`);
      return { seen: s.seen, v: 2 as const };
    },
  });
}
const corrected = (from: Update): Update => ({ ...from, state: (s: { seen: number }) => ({ seen: s.seen, v: 2 as const }) });

const NODES = ["a", "b", "c", "d", "e"];

async function halted(strategy: Strategy, seed: number): Promise<{ sys: System; u: Update; load: () => Promise<void> }> {
  const sys = new System({ seed, synchronizer: strategy === "synchronizer" });
  for (const n of NODES) sys.create(n, v1);
  for (let i = 1; i < NODES.length; i++) sys.link(NODES[i - 1] as string, NODES[i] as string);
  sys.link("a", "c");
  // Outside requests at every node throughout: traffic crosses the epoch boundary whichever way it can.
  const load = async (): Promise<void> => {
    for (let i = 0; i < 4; i++) {
      await Promise.all(NODES.filter((n) => n !== "c" || strategy !== "snapshot").map((n) => sys.request(n, "go")));
      await sys.sleep(3);
    }
  };
  await load();
  const u = failingAt("c");
  const pending = sys.update(u, { strategy, root: "a" });
  // A synchronized system waits as one for the halted node's pulse: its requests are answered after the resume.
  const during = strategy === "synchronizer" ? Promise.resolve() : load();
  await expect(pending).rejects.toThrow(UpdateHaltedError);
  await expect(pending).rejects.toThrow(/"c": Error: no room for c's state/);
  await during;
  return { sys, u, load };
}

const SAFE: readonly Strategy[] = ["cut", "conservative", "rollback", "snapshot", "synchronizer"];

describe("halted mode: a transfer that throws at swap time", () => {
  for (const strategy of SAFE) {
    it(`${strategy}: halts safely, serves, refuses configuration, and resume() finishes the update (seeds 1..8)`, async () => {
      for (let seed = 1; seed <= 8; seed++) {
        const { sys, u, load } = await halted(strategy, seed);
        expect(sys.version("c")).toBe("tok@1");
        // Nothing executed by the wrong epoch: the new code throws on an old message, the checker finds no mix-up.
        const mixed = sys.check().violations.filter((v) => v.invariant === "correctness");
        expect({ seed, mixed }).toEqual({ seed, mixed: [] });
        expect(sys.trace().filter((e) => e.kind === "fault" && e.during === "receive")).toEqual([]);
        expect(() => sys.link("b", "d")).toThrow(UpdateHaltedInProgressError);
        await expect(sys.update(u, { strategy, root: "a" })).rejects.toThrow(UpdateHaltedInProgressError);
        const report = await sys.resume(corrected(u));
        await load();
        await sys.settle();
        expect(NODES.map((n) => sys.version(n))).toEqual(NODES.map(() => "tok@2"));
        expect(Object.keys(report.nodes)).toEqual(NODES);
        expect({ seed, violations: sys.check().violations }).toEqual({ seed, violations: [] });
        expect(sys.trace().filter((e) => e.kind === "fault" && e.during === "receive")).toEqual([]);
      }
    });
  }

  it("resume refuses other behaviors, and a corrected transfer that still throws in its dry run leaves the update halted", async () => {
    const { sys, u } = await halted("cut", 3);
    const stranger = defineUpdate({ from: v1, to: defineBehavior({ ...v2, version: "tok@3" }), state: () => ({ seen: 0, v: 2 as const }) });
    await expect(sys.resume(stranger)).rejects.toThrow(/no update with the halted update's behaviors tok@1 -> tok@2 \(the same objects\)/);
    const stillWrong = { ...u, state: () => { throw new Error("still wrong"); } };
    await expect(sys.resume(stillWrong)).rejects.toThrow(ResumeRefusedError);
    expect(sys.version("c")).toBe("tok@1");
    await sys.resume(corrected(u));
    await sys.settle();
    expect(sys.check().violations).toEqual([]);
    await expect(sys.resume(corrected(u))).rejects.toThrow(/no update is halted/);
  });

  it("a halted update is reported by check() as a termination violation, never correctness", async () => {
    const { sys } = await halted("conservative", 2);
    await sys.sleep(50);
    const kinds = new Set(sys.check().violations.map((v) => v.invariant));
    expect(kinds.has("termination")).toBe(true);
    expect(kinds.has("correctness")).toBe(false);
  });
});

describe("halted mode: a message mapping that throws", () => {
  /** The mapping throws on the first old message it meets at `node` (once), as a mapping that misses a case would. */
  function mappingFailingAt(node: string): Update {
    let thrown = false;
    return defineUpdate({
      from: v1,
      to: v2,
      state: (s) => ({ seen: s.seen, v: 2 as const }),
      message: (old: Token, { to }) => {
        if (to === node && !thrown) {
          thrown = true;
          throw new Error(`no mapping for ${JSON.stringify(old)}`);
        }
        return message(old);
      },
    });
  }

  for (const strategy of ["cut", "conservative", "rollback", "snapshot"] as const) {
    it(`${strategy}: halts its channel (the message waits, never dropped), and resume() with a corrected mapping finishes (seeds 1..8)`, async () => {
      let halts = 0;
      for (let seed = 1; seed <= 8; seed++) {
        const sys = new System({ seed });
        for (const n of NODES) sys.create(n, v1);
        for (let i = 1; i < NODES.length; i++) sys.link(NODES[i - 1] as string, NODES[i] as string);
        sys.link("a", "c");
        const load = async (): Promise<void> => {
          for (let i = 0; i < 4; i++) {
            await Promise.all(NODES.map((n) => sys.request(n, "go")));
            await sys.sleep(3);
          }
        };
        await load();
        const u = mappingFailingAt("c");
        const pending = sys.update(u, { strategy, root: "a" }).then(() => "completed", (e: Error) => e);
        const during = load();
        const outcome = await pending;
        await during;
        if (outcome !== "completed") {
          halts++;
          expect(outcome).toBeInstanceOf(UpdateHaltedError);
          expect((outcome as Error).message).toMatch(/the message mapping threw on \S+ from "\w" to "c"/);
          expect(sys.check().violations.filter((v) => v.invariant !== "termination")).toEqual([]);
          expect(sys.trace().filter((e) => e.kind === "drop" && e.reason === "incompatible")).toEqual([]);
          await sys.resume({ ...u, message });
        }
        await load();
        await sys.settle();
        expect({ seed, violations: sys.check().violations }).toEqual({ seed, violations: [] });
        expect(NODES.map((n) => sys.version(n))).toEqual(NODES.map(() => "tok@2"));
        expect(sys.trace().filter((e) => e.kind === "fault" && e.during === "receive")).toEqual([]);
      }
      expect(halts).toBeGreaterThan(0);
    });
  }
});
