/**
 * Issue 13's API hardening on the simulator: retired versions and back-outs, the epoch of a created node, the
 * refusals of bad behaviors and updates, copies instead of live objects, requests nothing can answer, settle's
 * bounds, and faults in the UpdateReport.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  DuplicateVersionError,
  InvalidOptionError,
  InvalidUpdateError,
  RequestFailedError,
  RequestStalledError,
  RequestTimeoutError,
  RetiredVersionError,
  SettleTimeoutError,
  System,
  defineBehavior,
  defineUpdate,
  type NodeId,
  type Update,
} from "./index.js";
import { relayUpdate, relayV1, relayV2, type RelayMessage, type RelayMessageV2, type RelayState, type RelayStateV2 } from "./harness/relay.js";

function line(sys: System, ...ids: string[]): void {
  for (const id of ids) sys.create(id, relayV1);
  for (let i = 1; i < ids.length; i++) sys.link(ids[i - 1] as string, ids[i] as string);
}

/** The back-out of relayUpdate: relay@2 -> relay@1. */
const backOut = defineUpdate<RelayStateV2, RelayMessageV2, RelayState, RelayMessage>({
  from: relayV2,
  to: relayV1,
  state: (s) => ({ received: s.count, log: s.history }),
  message: (m) => [{ token: m.t, hops: m.ttl }],
});

const mute = defineBehavior<number, never, unknown, unknown>({ version: "mute@1", init: () => 0, receive: (s) => s, request: (s) => s });

/** A node whose timer re-arms for ever, every `every` ms. */
function ticker(every: number) {
  return defineBehavior<number, never>({
    version: `ticker@${every}`,
    init: (ctx) => {
      ctx.setTimer(every, "tick");
      return 0;
    },
    receive: (s) => s,
    timer: (s, _tag, ctx) => {
      ctx.setTimer(every, "tick");
      return s + 1;
    },
  });
}

describe("retired versions", () => {
  it("refuses to create a node at a version a completed update replaced, naming node, version, update and current version", async () => {
    const sys = new System();
    line(sys, "a", "b");
    await sys.update(relayUpdate, { strategy: "cut" });
    const err = (() => {
      try {
        sys.create("c", relayV1);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(RetiredVersionError);
    expect((err as RetiredVersionError).code).toBe("RETIRED_VERSION");
    expect((err as Error).message).toMatch(/create: node "c" would run "relay@1", which is retired \(update #1 replaced it\); the system runs "relay@2" now/);
    expect((err as Error).message).toMatch(/back out first with an update to "relay@1"/);
    expect(sys.nodes()).toEqual(["a", "b"]);
    sys.create("c", relayV2); // the current version is welcome
    expect(sys.version("c")).toBe("relay@2");
  });

  it("a back-out (v2 -> v1) makes v1 current again and retires v2", async () => {
    const sys = new System();
    line(sys, "a", "b");
    await sys.update(relayUpdate, { strategy: "cut" });
    await sys.update(backOut, { strategy: "cut" });
    sys.create("c", relayV1);
    sys.link("b", "c");
    expect(() => sys.create("d", relayV2)).toThrow(/"relay@2", which is retired \(update #2 replaced it\); the system runs "relay@1" now/);
    await sys.request("a", { kind: "send", token: "x", hops: 3 });
    await sys.settle();
    expect(sys.check()).toEqual({ ok: true, violations: [] });
  });

  it("an update that did not complete retires nothing", async () => {
    const sys = new System();
    line(sys, "a", "b");
    const bad = defineUpdate({ ...relayUpdate, state: () => { throw new Error("no"); } });
    await expect(sys.update(bad, { strategy: "cut" })).rejects.toThrow(/refused it/);
    sys.create("c", relayV1);
    expect(sys.version("c")).toBe("relay@1");
  });
});

describe("the epoch of a created node", () => {
  it("is that of the nodes running its version, also after an update that halted half way and was resumed", async () => {
    const sys = new System({ seed: 3 });
    line(sys, "a", "b");
    let transfers = 0;
    // b's dry run in prepare passes; its transfer at swap time throws, after a turned new: the update halts.
    const late = defineUpdate({ ...relayUpdate, state: (s: RelayState, info: { self: NodeId }) => {
      if (info.self === "b" && ++transfers === 2) throw new Error("late failure");
      return relayUpdate.state(s, { self: info.self, neighbors: [] });
    } });
    await expect(sys.update(late, { strategy: "naive" })).rejects.toThrow(/halted/);
    expect([sys.version("a"), sys.version("b")]).toEqual(["relay@2", "relay@1"]);
    // Halted: configuration waits for the resume (a node created now could join either side of the boundary).
    expect(() => sys.create("c", relayV2)).toThrow(/halted/);
    await sys.resume(defineUpdate({ ...late, state: (s: RelayState, info: { self: NodeId }) => relayUpdate.state(s, { self: info.self, neighbors: [] }) }));
    sys.create("c", relayV2);
    expect(() => sys.create("d", relayV1)).toThrow(/retired/);
    sys.create("e", mute);
    const created = Object.fromEntries(sys.trace().flatMap((e) => (e.kind === "create" ? [[e.node, e.epoch]] : [])));
    expect(created).toMatchObject({ c: 1, e: 1 });
    sys.link("a", "c");
    await sys.request("c", { kind: "send", token: "n", hops: 0, to: "a" });
    await sys.settle();
    const aboutC = sys.check().violations.filter((v) => v.message.includes('"c"'));
    expect(aboutC).toEqual([]);
  });
});

describe("refusals of bad behaviors and updates", () => {
  it("refuses a second behavior (other code) with a version the system already knows; the same code is the same behavior", async () => {
    const sys = new System();
    line(sys, "a");
    sys.create("copy", defineBehavior({ ...relayV1 })); // another object of the same code (as a factory makes): welcome
    sys.destroy("copy");
    const twin = defineBehavior({ ...relayV1, receive: (s: RelayState) => s });
    expect(() => sys.create("b", twin)).toThrow(DuplicateVersionError);
    expect(() => sys.create("b", twin)).toThrow(/another behavior object already has version "relay@1"/);
    const impostor = defineBehavior({ ...relayV2, receive: (s: RelayStateV2) => s });
    await expect(sys.update({ ...relayUpdate, from: twin }, { strategy: "cut" })).rejects.toThrow(DuplicateVersionError);
    sys.create("b", impostor); // relay@2 is new to this system: fine
    sys.destroy("b");
    await expect(sys.update(relayUpdate, { strategy: "cut" })).rejects.toThrow(/"relay@2"/);
  });

  it("refuses an update whose `to` is not a behavior, one that keeps its version, and atPulse off the synchronizer", async () => {
    const sys = new System();
    line(sys, "a", "b");
    const notBehavior = { from: relayV1, to: { version: "relay@2" }, state: (s: unknown) => s } as unknown as Update;
    await expect(sys.update(notBehavior, { strategy: "cut" })).rejects.toThrow(InvalidUpdateError);
    await expect(sys.update(notBehavior, { strategy: "cut" })).rejects.toThrow(/`to` is not a behavior/);
    const same = { from: relayV1, to: relayV1, state: (s: unknown) => s } as Update;
    await expect(sys.update(same, { strategy: "cut" })).rejects.toThrow(/from "relay@1" to "relay@1" does not change the version/);
    await expect(sys.update(relayUpdate, { strategy: "cut", atPulse: 4 })).rejects.toThrow(InvalidOptionError);
    await expect(sys.update(relayUpdate, { strategy: "cut", atPulse: 4 })).rejects.toThrow(/strategy "cut" takes no atPulse/);
    expect(sys.updating()).toBe(false);
    await sys.update(relayUpdate, { strategy: "cut" });
  });
});

describe("copies, not live objects", () => {
  it("a handler that splices ctx.neighbors() faults and leaves the topology as it was", async () => {
    const vandal = defineBehavior<number, never, string, string>({
      version: "vandal@1",
      init: () => 0,
      receive: (s) => s,
      request: (s, _q, id, ctx) => {
        (ctx.neighbors() as NodeId[]).splice(0);
        ctx.respond(id, "done");
        return s + 1;
      },
    });
    const sys = new System();
    sys.create("v", vandal);
    sys.create("w", vandal);
    sys.link("v", "w");
    await expect(sys.request("v", "go")).rejects.toThrow(RequestFailedError);
    expect(sys.links()).toEqual([["v", "w"]]);
    expect(sys.neighbors("v")).toEqual(["w"]);
    expect(Object.isFrozen(sys.neighbors("v"))).toBe(true);
  });

  it("sys.state() and sys.neighbors() return values that cannot change the system", async () => {
    const sys = new System();
    line(sys, "a", "b");
    await sys.request("a", { kind: "send", token: "x", hops: 0 });
    await sys.settle();
    const st = sys.state("b") as { received: number; log: string[] };
    st.received = 99;
    st.log.push("forged");
    expect(sys.state("b")).toEqual({ received: 1, log: ["x<a"] });
    expect(() => (sys.neighbors("a") as NodeId[]).push("zz")).toThrow(TypeError);
    expect(sys.neighbors("a")).toEqual(["b"]);
  });
});

describe("outside requests nothing answers", () => {
  it("requestTimeoutMs (the API's name) rejects with RequestTimeoutError; requestTimeout stays its alias", async () => {
    const sys = new System({ requestTimeoutMs: 100 });
    sys.create("m", mute);
    await expect(sys.request("m", "hello")).rejects.toThrow(RequestTimeoutError);
    expect(sys.now()).toBe(100);
    expect(() => new System({ requestTimeoutMs: 10, requestTimeout: 20 })).toThrow(/requestTimeout \(20\) is its older name/);
    expect(() => new System({ requestTimeoutMs: 0 })).toThrow(/option requestTimeoutMs: expected virtual ms > 0/);
    expect(new System({ requestTimeout: 5, requestTimeoutMs: 5 })).toBeInstanceOf(System);
  });

  it("a request nothing can answer any more rejects with RequestStalledError naming the request and the node", async () => {
    const sys = new System();
    sys.create("m", mute);
    const err = await sys.request("m", "hello").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestStalledError);
    expect((err as Error).message).toMatch(/request r1 to node "m" can never be answered/);
    // A request answered later, by a later event, is not stalled while that event is pending.
    const later = defineBehavior<string | undefined, never, string, string>({
      version: "later@1",
      init: () => undefined,
      receive: (s) => s,
      request: (_s, _q, id, ctx) => {
        ctx.setTimer(50, "answer");
        return id;
      },
      timer: (s, _t, ctx) => {
        ctx.respond(s as string, "late");
        return undefined;
      },
    });
    sys.create("l", later);
    await expect(sys.request("l", "q")).resolves.toBe("late");
  });

  it("`await sys.request()` that nothing answers no longer ends the process silently (exit 13)", () => {
    const dir = mkdtempSync(join(tmpdir(), "liveswap-stall-"));
    const file = join(dir, "stall.mts");
    const index = resolve(__dirname, "index.ts");
    writeFileSync(
      file,
      `import { System, defineBehavior } from ${JSON.stringify(index)};\n` +
        `const sys = new System();\n` +
        `sys.create("m", defineBehavior({ version: "mute@1", init: () => 0, receive: (s) => s, request: (s) => s }));\n` +
        `try { await sys.request("m", "hello"); } catch (e) { console.log(e.code); }\n`,
    );
    const tsx = resolve(__dirname, "..", "node_modules", ".bin", "tsx");
    const out = spawnSync(tsx, [file], { encoding: "utf8", timeout: 60_000 });
    expect(out.status).toBe(0);
    expect(out.stdout.trim()).toBe("REQUEST_STALLED");
  }, 70_000);
});

describe("settle's bound", () => {
  it("settle({ withinMs }) rejects once virtual time passes the bound, naming the timer that keeps re-arming", async () => {
    const sys = new System();
    sys.create("t", ticker(1));
    const err = await sys.settle({ withinMs: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SettleTimeoutError);
    expect((err as SettleTimeoutError).code).toBe("SETTLE_TIMEOUT");
    expect((err as Error).message).toMatch(/did not settle within 50 ms of virtual time \(now 50 ms\); busy with: timer "tick" at node "t" fired 50 time\(s\) and keeps re-arming/);
    expect(sys.now()).toBe(50);
    // The system keeps running: a later settle starts its own bound.
    await expect(sys.settle({ withinMs: 10 })).rejects.toThrow(/fired 10 time\(s\)/);
    await expect(sys.settle({ withinMs: -1 })).rejects.toThrow(/settle withinMs/);
  });

  it("names messages in flight and open requests too", async () => {
    const pingPong = defineBehavior<number, number, string, string>({
      version: "pp@1",
      init: () => 0,
      receive: (s, m, from, ctx) => {
        ctx.send(from, m + 1);
        return s + 1;
      },
      request: (s, _q, _id, ctx) => {
        for (const n of ctx.neighbors()) ctx.send(n, 0);
        return s;
      },
    });
    const sys = new System();
    sys.create("p", pingPong);
    sys.create("q", pingPong);
    sys.link("p", "q");
    const open = sys.request("p", "start").catch((e: unknown) => e);
    const err = await sys.settle({ withinMs: 1000 }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/message\(s\) delivered \((p->q|q->p): \d+, (p->q|q->p): \d+\); open request\(s\) r1 at "p"/);
    await sys.close();
    await open;
  });

  it("settle() without a bound gives up after an hour of virtual time instead of running away", async () => {
    const sys = new System({ trace: false });
    sys.create("t", ticker(100));
    await expect(sys.settle()).rejects.toThrow(/within 3600000 ms of virtual time/);
    expect(sys.now()).toBe(3_600_000);
  });

  it("gives up when virtual time stops (a 0 ms timer that always re-arms)", async () => {
    const sys = new System({ trace: false });
    sys.create("z", ticker(0));
    await expect(sys.settle()).rejects.toThrow(/virtual time stopped at 0 ms/);
  }, 30_000);
});

describe("faults in the UpdateReport", () => {
  it("counts the handler faults at nodes taking part in the update", async () => {
    const brittle = defineBehavior<RelayStateV2, RelayMessageV2>({
      version: "brittle@2",
      init: () => ({ count: 0, history: [] }),
      receive: () => {
        throw new Error("brittle");
      },
    });
    const u = defineUpdate({ from: relayV1, to: brittle, state: (s: RelayState) => ({ count: s.received, history: s.log }), message: (m: RelayMessage) => [{ t: m.token, ttl: m.hops }] });
    const sys = new System({ seed: 2 });
    line(sys, "a", "b", "c", "d");
    for (const n of ["a", "b", "c", "d"]) void sys.request(n, { kind: "send", token: n, hops: 30 });
    await sys.sleep(3);
    const report = await sys.update(u, { strategy: "cut", root: "a" });
    const faults = sys.trace().filter((e) => e.kind === "fault").length;
    expect(report.faults).toBeGreaterThan(0);
    expect(report.faults).toBeLessThanOrEqual(faults);
    await sys.settle();
    const quiet = await sys.update(defineUpdate({ from: brittle, to: relayV2, state: (s: RelayStateV2) => s }), { strategy: "cut" });
    expect(quiet.faults).toBe(0);
  });
});
