import { describe, expect, it } from "vitest";
import { defineBehavior } from "../core/behavior.js";
import type { ControlMessage, RunInfo, UpdateCode } from "../core/control.js";
import type { ControlEnvelope, Envelope } from "../core/envelope.js";
import { CONTROL, messageId } from "../core/ids.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import { defineUpdate, type Update } from "../core/update.js";
import { pairHost } from "../../test/support/pair-host.js";

const v1 = defineBehavior<number, number>({
  version: "n@1",
  init: () => 0,
  receive: (s, m) => s + m,
  timer: (s) => s + 100,
});
const v2 = defineBehavior<string, number>({ version: "n@2", init: () => "", receive: (s, m) => `${s}+${m}` });
const u12 = defineUpdate({ from: v1, to: v2, state: (s) => `${s}` });

/** A network of nothing: it records what the host sends and traces, and loads code as the test says. */
function harness(loadCode: (code: UpdateCode) => readonly Update[] | Promise<readonly Update[]> = (c) => (c.kind === "inline" ? c.updates : [])) {
  const trace: TraceEvent[] = [];
  let timers = 0;
  const { host, topology, sent } = pairHost(v1, { startTimer: () => ++timers, record: (e) => void trace.push(e), loadCode });
  return { host, topology, sent, trace };
}

const run = (id: number): RunInfo => ({ id, strategy: "naive", root: "a", nodes: ["a", "b"], from: { a: "n@1", b: "n@1" }, requestedAt: 0 });
const plane = (update: number, msg: ControlMessage): ControlEnvelope => ({ kind: "control", from: CONTROL, to: "b", update, msg, link: 0, plane: true });
const app = (link: number, body: number): Envelope => ({ kind: "app", id: messageId(`a.${body}`), from: "a", to: "b", epoch: 0, body, link });
const reports = (sent: readonly Envelope[]): unknown[] => sent.filter((e): e is ControlEnvelope => e.kind === "control").map((e) => e.msg.kind);

describe("the node host: the protocol rules every network shares", () => {
  it("drops a message of a removed link (traced), executes one of the live link", () => {
    const { host, topology, trace } = harness();
    const old = topology.linksOf("b").get("a") as number;
    topology.removeLink("a", "b");
    topology.addLink("a", "b");
    host.deliver(app(old, 5));
    host.deliver(app(topology.linksOf("b").get("a") as number, 7));
    expect(host.state).toBe(7);
    expect(trace.filter((e) => e.kind === "drop").map((e) => (e.kind === "drop" ? e.reason : ""))).toEqual(["unlinked"]);
  });

  it("never runs a timer of an earlier incarnation of the node", () => {
    const { host } = harness();
    host.timer("t", 1, 0);
    expect(host.state).toBe(0);
    host.timer("t", 2, 1);
    expect(host.state).toBe(100);
  });

  it("prepares with code that loads later (as over TCP); an abort during the load leaves the node untouched", async () => {
    let release: (u: readonly Update[]) => void = () => undefined;
    const { host, sent } = harness(() => new Promise((r) => (release = r)));
    host.deliver(plane(1, { kind: "prepare", run: run(1), code: { kind: "package", text: "signed" } }));
    expect(host.updateId).toBe(1);
    host.deliver(plane(1, { kind: "abort" }));
    release([u12]);
    await Promise.resolve();
    expect(host.armed).toBe(false);
    expect(host.updateId).toBeUndefined();
    expect(reports(sent)).toEqual([]);
  });

  it("ignores a control message of another update, then swaps on its own and reports swapped with its figures", () => {
    const { host, sent } = harness();
    host.deliver(plane(2, { kind: "prepare", run: run(2), code: { kind: "inline", updates: [u12] } }));
    expect(reports(sent)).toEqual(["prepared"]);
    host.deliver(plane(1, { kind: "swap" })); // a stale command of update #1
    expect(host.version).toBe("n@1");
    host.deliver(plane(2, { kind: "swap" }));
    expect(host.version).toBe("n@2");
    const last = sent.at(-1) as ControlEnvelope;
    expect(last.msg).toMatchObject({ kind: "swapped", figures: { controlPlaneMessages: 2 } });
    expect(host.armed).toBe(false);
  });

  it("a later prepare of the same root resolves the earlier update the node never turned new in (its abort was lost)", () => {
    const { host, sent } = harness();
    host.deliver(plane(4, { kind: "prepare", run: { ...run(4), strategy: "cut" }, code: { kind: "inline", updates: [u12] } }));
    expect(host.updateId).toBe(4);
    host.deliver(plane(5, { kind: "prepare", run: run(5), code: { kind: "inline", updates: [u12] } }));
    expect((sent.at(-1) as ControlEnvelope).msg).toEqual({ kind: "prepared" });
    expect(host.updateId).toBe(5);
    host.deliver(plane(4, { kind: "swap" })); // a stale command of the resolved update changes nothing
    expect(host.version).toBe("n@1");
  });

  it("refuses another root's update's prepare while in one; once the coordinator gave its update up (end), takes the next", () => {
    const { host, sent } = harness();
    const cutRun: RunInfo = { ...run(4), strategy: "cut", root: "elsewhere" };
    host.deliver(plane(4, { kind: "prepare", run: cutRun, code: { kind: "inline", updates: [u12] } }));
    host.deliver(plane(5, { kind: "prepare", run: run(5), code: { kind: "inline", updates: [u12] } }));
    expect((sent.at(-1) as ControlEnvelope).msg).toEqual({ kind: "refused", reason: 'node "b" is still in update #4; wait for it to end' });
    host.deliver(plane(4, { kind: "end" }));
    expect(host.updateId).toBeUndefined();
    expect(host.armed).toBe(true); // its agent stays: what it filters stays filtered
    host.deliver(plane(5, { kind: "prepare", run: run(5), code: { kind: "inline", updates: [u12] } }));
    expect((sent.at(-1) as ControlEnvelope).msg).toEqual({ kind: "prepared" });
    expect(host.updateId).toBe(5);
  });

  it("refuses a prepare whose update does not convert from the version it runs, naming both", () => {
    const { host, sent } = harness();
    const other = defineUpdate({ from: v2, to: v1, state: () => 0 });
    host.deliver(plane(3, { kind: "prepare", run: run(3), code: { kind: "inline", updates: [other] } }));
    const refusal = (sent.at(-1) as ControlEnvelope).msg;
    expect(refusal).toEqual({ kind: "refused", reason: 'it runs "n@1" (planned: "n@1") but the update converts only from "n@2"' });
    expect(host.armed).toBe(false);
  });
});
