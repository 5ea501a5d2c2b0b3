import { describe, expect, it } from "vitest";
import type { AppEnvelope, ControlEnvelope, Envelope } from "../core/envelope.js";
import { messageId } from "../core/ids.js";
import { CodeGate } from "./code-gate.js";

const app = (n: number): AppEnvelope => ({ kind: "app", id: messageId(`r1.${n}`), from: "r1", to: "r0", epoch: 0, body: n, link: 1 });
const plane = (kind: string, code?: string): ControlEnvelope =>
  ({ kind: "control", from: "ctl", to: "r0", update: 1, msg: { kind, ...(code !== undefined ? { code: { kind: "package", text: code } } : {}) }, link: 0, plane: true }) as unknown as ControlEnvelope;
const name = (e: Envelope): string => (e.kind === "app" ? `app ${String(e.body)}` : `${(e.msg as { kind: string }).kind}`);

/** A gate whose code loads when the test says so; what the host took, in order. */
function harness(stopped: () => boolean = () => false) {
  const loads = new Map<string, () => void>();
  const loaded = new Set<string>();
  const taken: string[] = [];
  let batches = 0;
  const gate = new CodeGate({
    loading: (env) => {
      const text = env.kind === "control" ? (env.msg as { code?: { text: string } }).code?.text : undefined;
      if (text === undefined || loaded.has(text)) return undefined;
      return new Promise<void>((resolve) => loads.set(text, () => (loaded.add(text), resolve())));
    },
    deliver: (env) => void taken.push(name(env)),
    drained: () => void batches++,
    stopped,
  });
  const finish = async (text: string): Promise<void> => {
    loads.get(text)?.();
    await new Promise((r) => setImmediate(r));
  };
  return { gate, taken, finish, batches: () => batches };
}

describe("the code gate (a node's inputs while a prepare's package loads)", () => {
  it("lets the neighbours' messages and other inputs run while the code loads; the coordinator's later envelopes wait behind the prepare, in order", async () => {
    const h = harness();
    h.gate.offer(app(1));
    h.gate.offer(plane("prepare", "pkg-2"));
    h.gate.offer(app(2));
    h.gate.offer(plane("abort"));
    expect(h.gate.holdsAll).toBe(false); // a request or a timer runs now too
    h.gate.offer(app(3));
    expect(h.taken).toEqual(["app 1", "app 2", "app 3"]);
    await h.finish("pkg-2");
    expect(h.taken).toEqual(["app 1", "app 2", "app 3", "prepare", "abort"]);
    expect(h.batches()).toBe(1);
  });

  it("a later envelope of the coordinator carrying other code waits again, and what followed it waits behind it", async () => {
    const h = harness();
    h.gate.offer(plane("prepare", "pkg-2"));
    h.gate.offer(plane("resume", "pkg-3"));
    h.gate.offer(plane("start"));
    await h.finish("pkg-2");
    expect(h.taken).toEqual(["prepare"]);
    h.gate.offer(app(1));
    expect(h.taken).toEqual(["prepare", "app 1"]);
    await h.finish("pkg-3");
    expect(h.taken).toEqual(["prepare", "app 1", "resume", "start"]);
  });

  it("code already loaded passes at once; code that came off the plane holds every input until it is loaded", async () => {
    const h = harness();
    h.gate.offer(plane("prepare", "pkg-2"));
    await h.finish("pkg-2");
    h.gate.offer(plane("prepare", "pkg-2"));
    expect(h.taken).toEqual(["prepare", "prepare"]);
    const offPlane = { ...plane("prepare", "pkg-4"), plane: false } as ControlEnvelope;
    h.gate.offer(offPlane);
    expect(h.gate.holdsAll).toBe(true);
    const held: string[] = [];
    h.gate.hold(() => held.push("timer"));
    h.gate.offer(app(5));
    expect(h.taken).toEqual(["prepare", "prepare"]);
    await h.finish("pkg-4");
    expect(h.taken).toEqual(["prepare", "prepare", "prepare", "app 5"]);
    expect(held).toEqual(["timer"]);
  });

  it("a node stopped while the code loaded takes nothing of what waited, the coordinator's envelopes included", async () => {
    let stopped = false;
    const h = harness(() => stopped);
    h.gate.offer(plane("prepare", "pkg-2"));
    h.gate.offer(plane("abort"));
    stopped = true;
    await h.finish("pkg-2");
    expect(h.taken).toEqual([]);
  });
});
