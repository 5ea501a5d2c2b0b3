import { describe, expect, it } from "vitest";
import { defineBehavior, defineUpdate, System, UpdateHaltedError } from "../index.js";

/** Timers pending at the swap keep their tag and due time unless the update maps them (API: Update.timer). */
const v1 = defineBehavior<{ fired: string[] }, never, "arm", string>({
  version: "t@1",
  init: () => ({ fired: [] }),
  receive: (s) => s,
  request(s, _q, id, ctx) {
    ctx.setTimer(50, "tick");
    ctx.setTimer(50, "keep");
    ctx.setTimer(50, "drop");
    ctx.respond(id, "armed");
    return s;
  },
  timer: (s, tag) => ({ fired: [...s.fired, `v1:${tag}`] }),
});
const v2 = defineBehavior<{ fired: string[] }, never, "arm", string>({
  version: "t@2",
  init: () => ({ fired: [] }),
  receive: (s) => s,
  timer: (s, tag, ctx) => ({ fired: [...s.fired, `v2:${tag}@${ctx.now}`] }),
});

async function armed(): Promise<System> {
  const sys = new System({ seed: 1 });
  sys.create("a", v1);
  await sys.request("a", "arm");
  return sys;
}

describe("timer mapping at the swap", () => {
  it("maps a tag to new ones (due when the old one was), cancels with [], keeps what it leaves alone", async () => {
    const sys = await armed();
    const armedAt = sys.now();
    const u = defineUpdate({
      from: v1,
      to: v2,
      state: (s) => s,
      timer: (tag) => (tag === "tick" ? ["tock", "tack"] : tag === "drop" ? [] : [tag]),
    });
    await sys.update(u, { strategy: "cut" });
    await sys.settle();
    const fired = (sys.state("a") as { fired: string[] }).fired;
    expect(fired.map((f) => f.replace(/@.*/, "")).sort()).toEqual(["v2:keep", "v2:tack", "v2:tock"]);
    for (const f of fired) expect(Number(f.split("@")[1])).toBe(armedAt + 50);
    expect(sys.check().violations).toEqual([]);
  });

  it("without a timer mapping every pending timer keeps its tag", async () => {
    const sys = await armed();
    await sys.update(defineUpdate({ from: v1, to: v2, state: (s) => s }), { strategy: "cut" });
    await sys.settle();
    expect((sys.state("a") as { fired: string[] }).fired.map((f) => f.replace(/@.*/, "")).sort()).toEqual(["v2:drop", "v2:keep", "v2:tick"]);
  });

  it("a timer mapping that throws halts the swap like a transfer that throws; resume with a corrected one finishes it", async () => {
    const sys = await armed();
    const u = defineUpdate({ from: v1, to: v2, state: (s) => s, timer: (tag) => { if (tag === "drop") throw new Error("no such tag any more"); return [tag]; } });
    await expect(sys.update(u, { strategy: "cut" })).rejects.toThrow(UpdateHaltedError);
    await expect(sys.update(u, { strategy: "cut" })).rejects.toThrow(/halted/);
    expect(sys.version("a")).toBe("t@1");
    await sys.resume({ ...u, timer: (tag: string) => (tag === "drop" ? [] : [tag]) });
    await sys.settle();
    expect((sys.state("a") as { fired: string[] }).fired.map((f) => f.replace(/@.*/, "")).sort()).toEqual(["v2:keep", "v2:tick"]);
  });
});
