import { describe, expect, it } from "vitest";
import { InvalidOptionError, System, type TraceEvent } from "./index.js";
import { relayUpdate, relayV1, type RelayStateV2 } from "./harness/relay.js";

/** A ring of six relay nodes with tokens circling while an update runs. */
async function run(store: boolean, strategy: "cut" | "conservative" | "snapshot" | "rollback"): Promise<{ sys: System; trace: readonly TraceEvent[] }> {
  const sys = new System({ seed: 11, store });
  const ids = ["a", "b", "c", "d", "e", "f"];
  for (const id of ids) sys.create(id, relayV1);
  for (let i = 0; i < ids.length; i++) sys.link(ids[i] as string, ids[(i + 1) % ids.length] as string);
  for (const id of ["a", "c", "e"]) await sys.request(id, { kind: "send", token: `t${id}`, hops: 40 });
  await sys.update(relayUpdate, { strategy });
  // And then: traffic under the new version, a second round of configuration.
  await sys.request("b", { kind: "send", token: "after", hops: 10 });
  sys.unlink("a", "b");
  await sys.settle();
  return { sys, trace: sys.trace() };
}

describe("a system without a store (store: false)", () => {
  for (const strategy of ["cut", "conservative", "snapshot", "rollback"] as const) {
    it(`runs the same ${strategy} update as with the store, and the checker passes it`, async () => {
      const off = await run(false, strategy);
      const on = await run(true, strategy);
      expect(off.sys.check()).toEqual({ ok: true, violations: [] });
      // The store changes nothing a node does: the same deliveries, sends and states at the same virtual times.
      const visible = (t: readonly TraceEvent[]) => t.filter((e) => e.kind === "deliver" || e.kind === "send" || e.kind === "swap").map((e) => JSON.stringify(e));
      expect(visible(off.trace)).toEqual(visible(on.trace));
      expect(off.sys.now()).toBe(on.sys.now());
      for (const id of off.sys.nodes()) {
        expect(off.sys.version(id)).toBe("relay@2");
        expect((off.sys.state(id) as RelayStateV2).history).toEqual((on.sys.state(id) as RelayStateV2).history);
      }
    });
  }

  it("refuses a crash, naming the option, and keeps running", async () => {
    const sys = new System({ store: false });
    sys.create("a", relayV1);
    sys.create("b", relayV1);
    sys.link("a", "b");
    expect(() => sys.crash("a")).toThrow(InvalidOptionError);
    expect(() => sys.crash("a")).toThrow(/store: false/);
    await sys.request("a", { kind: "send", token: "x", hops: 3 });
    await sys.settle();
    expect(sys.check().ok).toBe(true);
  });

  it("refuses a group-commit window without a store, and a store option that is no boolean", () => {
    expect(() => new System({ store: false, groupCommitMs: 2 })).toThrow(/store: false leaves nothing for groupCommitMs/);
    expect(() => new System({ store: "no" as unknown as boolean })).toThrow(/expected true or false, got "no"/);
  });
});

describe("a handler's ctx", () => {
  it("lends its functions: a handler may take send, setTimer and neighbors off ctx", async () => {
    const { defineBehavior } = await import("./index.js");
    const loose = defineBehavior<number, number, unknown, unknown>({
      version: "loose@1",
      init: (ctx) => {
        const { setTimer } = ctx;
        setTimer(1, "go");
        return 0;
      },
      timer: (s, _tag, ctx) => {
        const { send, neighbors } = ctx;
        for (const n of neighbors()) send(n, 2);
        return s;
      },
      receive: (s, h, from, ctx) => {
        const { send } = ctx;
        if (h > 0) send(from, h - 1);
        return s + 1;
      },
    });
    const sys = new System({ seed: 3 });
    sys.create("a", loose);
    sys.create("b", loose);
    sys.link("a", "b");
    await sys.settle();
    // Each node sends one message (budget 2) and it bounces twice: three deliveries per message, both ways.
    expect(sys.state("a")).toBe(3);
    expect(sys.state("b")).toBe(3);
    expect(sys.check().ok).toBe(true);
  });
});
