import { describe, expect, it } from "vitest";
import {
  DuplicateLinkError,
  DuplicateNodeError,
  InvalidOptionError,
  NoRequestHandlerError,
  PrepareFailedError,
  RequestFailedError,
  SchedulerError,
  SelfLinkError,
  SettleStalledError,
  StrategyUnavailableError,
  System,
  UnknownLinkError,
  UnknownNodeError,
  UpdateInProgressError,
  VersionMismatchError,
  defineBehavior,
  defineUpdate,
  type TraceEvent,
} from "./index.js";
import { relayUpdate, relayV1, relayV2, type RelayState, type RelayStateV2 } from "./harness/relay.js";

function line(sys: System, ...ids: string[]): void {
  for (const id of ids) sys.create(id, relayV1);
  for (let i = 1; i < ids.length; i++) sys.link(ids[i - 1] as string, ids[i] as string);
}

const kinds = (trace: readonly TraceEvent[], kind: TraceEvent["kind"]) => trace.filter((e) => e.kind === kind);

describe("configuration on the fly", () => {
  it("creates, links, unlinks and destroys, keeping sorted listings", () => {
    const sys = new System();
    line(sys, "c", "a", "b");
    expect(sys.nodes()).toEqual(["a", "b", "c"]);
    expect(sys.links()).toEqual([
      ["a", "b"],
      ["a", "c"],
    ]);
    sys.unlink("a", "c");
    expect(sys.links()).toEqual([["a", "b"]]);
    sys.destroy("b");
    expect(sys.nodes()).toEqual(["a", "c"]);
    expect(sys.links()).toEqual([]);
    expect(sys.version("a")).toBe("relay@1");
  });

  it("refuses bad configuration with errors naming the bad thing, and keeps running", async () => {
    const sys = new System();
    line(sys, "a", "b");
    expect(() => sys.create("a", relayV1)).toThrow(DuplicateNodeError);
    expect(() => sys.create("a", relayV1)).toThrow(/"a" already exists/);
    expect(() => sys.link("a", "a")).toThrow(SelfLinkError);
    expect(() => sys.link("a", "zz")).toThrow(UnknownNodeError);
    expect(() => sys.link("a", "zz")).toThrow(/no node "zz"/);
    expect(() => sys.link("a", "b")).toThrow(DuplicateLinkError);
    expect(() => sys.unlink("a", "zz")).toThrow(UnknownNodeError);
    sys.create("c", relayV1);
    expect(() => sys.unlink("a", "c")).toThrow(UnknownLinkError);
    expect(() => sys.destroy("zz")).toThrow(/no node "zz"/);
    expect(() => sys.version("zz")).toThrow(UnknownNodeError);
    expect(() => sys.create("@control", relayV1)).toThrow(/not valid/);
    await expect(sys.request("zz", { kind: "count" })).rejects.toThrow(UnknownNodeError);
    // nothing was lost: the system still answers
    await sys.request("a", { kind: "send", token: "x", hops: 0, to: "b" });
    await sys.settle();
    expect(await sys.request("b", { kind: "count" })).toBe(1);
    expect(sys.check().ok).toBe(true);
  });

  it("drops messages in flight on a removed link, as a configuration drop the checker does not count", async () => {
    const sys = new System({ scheduler: "scripted" });
    line(sys, "a", "b");
    void sys.request("a", { kind: "send", token: "x", hops: 0, to: "b" });
    sys.step((sys.pending()[0] as { seq: number }).seq); // the request runs; x is in flight
    sys.unlink("a", "b");
    await sys.settle();
    const drops = kinds(sys.trace(), "drop");
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({ reason: "unlinked", node: "b" });
    expect(sys.check()).toEqual({ ok: true, violations: [] });
  });
});

describe("nodes and handlers", () => {
  it("records a handler that sends to a non-neighbor as a fault, keeps the old state and keeps running", async () => {
    const sys = new System();
    line(sys, "a", "b");
    sys.create("c", relayV1);
    await expect(sys.request("a", { kind: "send", token: "x", hops: 0, to: "c" })).rejects.toThrow(RequestFailedError);
    const fault = kinds(sys.trace(), "fault")[0];
    expect(fault).toMatchObject({ node: "a", during: "request" });
    expect(fault && "error" in fault ? fault.error : "").toMatch(/"a" has no link to "c"/);
    expect(sys.state("a")).toEqual({ received: 0, log: [] });
    expect(await sys.request("a", { kind: "send", token: "y", hops: 0, to: "b" })).toBe("sent");
    await sys.settle();
    expect((sys.state("b") as RelayState).log).toEqual(["y<a"]);
  });

  it("a throwing receive handler is a fault: the node keeps its previous state and the next message runs", async () => {
    const picky = defineBehavior<number, string, string, number>({
      version: "picky@1",
      init: () => 0,
      receive: (s, m) => {
        if (m === "bad") throw new Error("cannot digest");
        return s + 1;
      },
      request: (s, q, id, ctx) => {
        if (q === "go") for (const m of ["ok", "bad", "ok"]) ctx.send("b", m);
        ctx.respond(id, s);
        return s;
      },
    });
    const sys = new System();
    sys.create("a", picky);
    sys.create("b", picky);
    sys.link("a", "b");
    await sys.request("a", "go");
    await sys.settle();
    expect(sys.state("b")).toBe(2);
    expect(kinds(sys.trace(), "fault")).toHaveLength(1);
    expect(sys.check().ok).toBe(true); // a fault is not a lost message: it was executed
  });

  it("rejects a request to a node without a request handler", async () => {
    const quiet = defineBehavior({ version: "quiet@1", init: () => 0, receive: (s: number) => s });
    const sys = new System();
    sys.create("q", quiet);
    await expect(sys.request("q", 1)).rejects.toThrow(NoRequestHandlerError);
  });

  it("keeps timers across a swap: they fire into the new behavior", async () => {
    const sys = new System({ seed: 4 });
    line(sys, "a", "b");
    await sys.request("a", { kind: "timer", delay: 500, tag: "late" });
    await sys.update(relayUpdate, { strategy: "naive" });
    expect(sys.now()).toBeLessThan(500);
    await sys.settle();
    expect((sys.state("a") as RelayStateV2).history).toEqual(["timer:late@2"]);
    expect(sys.version("a")).toBe("relay@2");
  });

  it("settle rejects when a request stays open and nothing can answer it", async () => {
    const mute = defineBehavior<number, never, unknown, unknown>({ version: "mute@1", init: () => 0, receive: (s) => s, request: (s) => s });
    const sys = new System();
    sys.create("m", mute);
    const open = sys.request("m", "hello");
    await expect(sys.settle()).rejects.toThrow(SettleStalledError);
    // Nothing can answer the request either: it rejects too, rather than leaving its caller waiting for ever.
    await expect(open).rejects.toThrow(/can never be answered/);
    await sys.close();
  });

  it("settle() resolves at once on an idle system, before a sleep that is also waiting", async () => {
    const sys = new System();
    line(sys, "a", "b");
    const winner = await Promise.race([sys.settle().then(() => "settle"), sys.sleep(1000).then(() => "sleep")]);
    expect(winner).toBe("settle");
    expect(sys.now()).toBe(0);
  });

  it("a run that never settles (a timer that always re-arms) does not hold the thread: a caller's time-out still fires", async () => {
    const ticker = defineBehavior<number, never, string, string>({
      version: "ticker@1",
      init: (ctx) => {
        ctx.setTimer(1, "tick");
        return 0;
      },
      receive: (s) => s,
      timer: (s, _tag, ctx) => {
        ctx.setTimer(1, "tick");
        return s + 1;
      },
    });
    const sys = new System();
    sys.create("t", ticker);
    // A bound far away: this is about the thread, not about settle's bound (system-api.test.ts).
    const outcome = await Promise.race([sys.settle({ withinMs: 1e12 }).then(() => "settled"), new Promise((r) => setTimeout(() => r("timed out"), 300))]);
    expect(outcome).toBe("timed out");
    expect(sys.state("t")).toBeGreaterThan(1000);
    await sys.close();
  });

  it("times out a request when asked to", async () => {
    const mute = defineBehavior<number, never, unknown, unknown>({ version: "mute@1", init: () => 0, receive: (s) => s, request: (s) => s });
    const sys = new System({ requestTimeout: 100 });
    sys.create("m", mute);
    await expect(sys.request("m", "hello")).rejects.toThrow(/no response within 100 ms/);
    expect(sys.now()).toBe(100);
  });
});

describe("updates: prepare and bad input", () => {
  it("rejects an update whose from does not match a node, naming the node, and changes nothing", async () => {
    const sys = new System();
    line(sys, "a", "b");
    const other = defineBehavior({ version: "other@1", init: () => 0, receive: (s: number) => s });
    sys.create("odd", other);
    sys.link("b", "odd");
    const err = await sys.update(relayUpdate, { strategy: "naive" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VersionMismatchError);
    expect((err as Error).message).toMatch(/node "odd" runs "other@1"/);
    expect(sys.nodes().map((n) => sys.version(n))).toEqual(["relay@1", "relay@1", "other@1"]);
    sys.create("late", relayV1); // configuration still works: no update is running
  });

  it("refuses strategies it cannot run, and unknown ones, with errors naming them", async () => {
    const sys = new System();
    line(sys, "a", "b");
    await expect(sys.update(relayUpdate, { strategy: "synchronizer" })).rejects.toThrow(StrategyUnavailableError);
    await expect(sys.update(relayUpdate, { strategy: "synchronizer" })).rejects.toThrow(/"synchronizer" is not available/);
    // @ts-expect-error: not a strategy
    await expect(sys.update(relayUpdate, { strategy: "bogus" })).rejects.toThrow(InvalidOptionError);
    await expect(sys.update(relayUpdate, { strategy: "naive", root: "zz" })).rejects.toThrow(/no node "zz"/);
    expect(sys.updating()).toBe(false);
  });

  it("refuses configuration and a second update while an update runs, then accepts them", async () => {
    const sys = new System();
    line(sys, "a", "b");
    const running = sys.update(relayUpdate, { strategy: "naive" });
    expect(() => sys.create("c", relayV2)).toThrow(UpdateInProgressError);
    expect(() => sys.link("a", "b")).toThrow(/update #1 is running/);
    expect(() => sys.unlink("a", "b")).toThrow(UpdateInProgressError);
    expect(() => sys.destroy("a")).toThrow(UpdateInProgressError);
    await expect(sys.update(relayUpdate, { strategy: "naive" })).rejects.toThrow(UpdateInProgressError);
    const report = await running;
    expect(report.strategy).toBe("naive");
    sys.create("c", relayV2);
    sys.link("b", "c");
    expect(sys.nodes().map((n) => sys.version(n))).toEqual(["relay@2", "relay@2", "relay@2"]);
  });

  it("aborts in prepare when a state transfer throws on a copy: no node changes, the system keeps running", async () => {
    const sys = new System();
    line(sys, "a", "b", "c");
    await sys.request("b", { kind: "send", token: "x", hops: 0, to: "c" });
    await sys.settle();
    const fragile = defineUpdate<RelayState, unknown, RelayStateV2, unknown>({
      from: relayV1,
      to: relayV2,
      state: (old) => {
        if (old.received > 0) throw new Error("cannot convert a node that has received");
        return { count: 0, history: [] };
      },
    });
    const err = await sys.update(fragile, { strategy: "naive" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrepareFailedError);
    expect((err as Error).message).toMatch(/node "c" refused it: the state transfer threw .*cannot convert/);
    await sys.settle();
    expect(sys.nodes().map((n) => sys.version(n))).toEqual(["relay@1", "relay@1", "relay@1"]);
    expect(sys.state("c")).toEqual({ received: 1, log: ["x<b"] });
    expect(kinds(sys.trace(), "swap")).toHaveLength(0);
    // the system runs on, and a sound update still goes through
    await sys.request("a", { kind: "send", token: "y", hops: 1, to: "b" });
    const report = await sys.update(relayUpdate, { strategy: "naive" });
    expect(Object.keys(report.nodes)).toEqual(["a", "b", "c"]);
  });

  it("fills the report: G after prepare, H when the last node turned new", async () => {
    const sys = new System({ seed: 9 });
    line(sys, "a", "b", "c");
    const r = await sys.update(relayUpdate, { strategy: "naive", root: "c" });
    expect(r.root).toBe("c");
    expect(r.preparedAt).toBeGreaterThan(r.requestedAt);
    expect(r.startedAt).toBe(r.preparedAt);
    expect(r.finishedAt).toBe(Math.max(...Object.values(r.nodes).map((n) => n.turnedNewAt)));
    expect(r.controlMessages).toBe(3); // one swap command per node
    expect(r.controlPlaneMessages).toBe(9); // prepare, prepared, swapped per node
    expect(sys.check().ok).toBe(true); // nothing in flight: naive got lucky
  });
});

describe("the naive strategy is caught", () => {
  it("an old message executed by a new node is a correctness violation in the trace", async () => {
    // Scripted: a's token to b is in flight when b swaps.
    const sys = new System({ scheduler: "scripted" });
    line(sys, "a", "b");
    void sys.request("a", { kind: "send", token: "x", hops: 0, to: "b" });
    const next = (pred: (p: ReturnType<System["pending"]>[number]) => boolean) => {
      const p = sys.pending().find(pred);
      if (p === undefined) throw new Error(`no such pending event in ${JSON.stringify(sys.pending())}`);
      sys.step(p.seq);
    };
    next((p) => p.kind === "request");
    const update = sys.update(relayUpdate, { strategy: "naive" });
    // prepare and swap every node before the token arrives
    while (sys.pending().some((p) => p.kind === "deliver" && p.signal !== undefined)) next((p) => p.signal !== undefined);
    next((p) => p.msg !== undefined);
    await update;
    const report = sys.check();
    expect(report.ok).toBe(false);
    expect(report.violations).toHaveLength(1);
    expect(report.violations[0]?.invariant).toBe("correctness");
    expect(report.violations[0]?.message).toMatch(/old message a\.1 sent by "a" at epoch 0 \(relay@1\) was executed by new node "b" \(relay@2, epoch 1\)/);
  });
});

describe("scripted schedules", () => {
  it("runs exactly the deliveries a test chooses, in its order, FIFO per channel", async () => {
    const sys = new System({ scheduler: "scripted" });
    // a star: a is linked to b and c
    for (const id of ["a", "b", "c"]) sys.create(id, relayV1);
    sys.link("a", "b");
    sys.link("a", "c");
    void sys.request("a", { kind: "send", token: "t1", hops: 0 });
    void sys.request("a", { kind: "send", token: "t2", hops: 0 });
    const [r1] = sys.pending();
    expect(r1?.kind).toBe("request");
    sys.step((r1 as { seq: number }).seq);
    // t1 is in flight to b and c; the second request is pending too
    const second = sys.pending().find((p) => p.kind === "request");
    sys.step((second as { seq: number }).seq);
    const toB = sys.pending().filter((p) => p.node === "b");
    expect(toB).toHaveLength(1); // only the head of a->b is enabled
    const headB = toB[0] as { seq: number; msg?: string };
    const all = () => sys.pending().map((p) => `${p.msg}->${p.node}`);
    expect(all()).toEqual(["a.1->b", "a.2->c"]);
    // a->b's second message (t2) cannot overtake the first
    const t2b = headB.seq + 2; // network seqs: a.1(b), a.2(c), then t2: a.3(b), a.4(c)
    expect(() => sys.step(t2b)).toThrow(SchedulerError);
    expect(() => sys.step(t2b)).toThrow(/FIFO/);
    // deliver in the order: c's t1, c's t2, b's t1, b's t2
    const stepMsg = (msg: string) => sys.step((sys.pending().find((p) => p.msg === msg) as { seq: number }).seq);
    stepMsg("a.2");
    stepMsg("a.4");
    stepMsg("a.1");
    stepMsg("a.3");
    expect(sys.pending()).toEqual([]);
    const delivered = kinds(sys.trace(), "deliver").map((e) => (e.kind === "deliver" ? `${e.msg}@${e.node}` : ""));
    expect(delivered).toEqual(["a.2@c", "a.4@c", "a.1@b", "a.3@b"]);
    expect((sys.state("c") as RelayState).log).toEqual(["t1<a", "t2<a"]);
    expect(sys.check().ok).toBe(true);
  });

  it("needs the scripted scheduler for stepping", () => {
    const sys = new System();
    expect(() => sys.pending()).toThrow(/scheduler: "scripted"/);
  });
});

describe("determinism", () => {
  async function run(seed: number): Promise<string> {
    const sys = new System({ seed });
    line(sys, "a", "b", "c", "d");
    sys.link("d", "a");
    const asks = [sys.request("a", { kind: "send", token: "p", hops: 30 }), sys.request("c", { kind: "send", token: "q", hops: 30 })];
    await sys.sleep(40);
    await sys.update(relayUpdate, { strategy: "naive", root: "d" }).catch(() => undefined);
    await Promise.all(asks);
    await sys.settle();
    return sys.trace().map((e) => JSON.stringify(e)).join("\n");
  }

  it("same seed, same calls: the same trace; another seed: another trace", async () => {
    const a = await run(7);
    const b = await run(7);
    const c = await run(8);
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });
});
