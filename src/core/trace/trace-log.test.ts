import { describe, expect, it } from "vitest";
import type { AppEnvelope } from "../envelope.js";
import { messageId } from "../ids.js";
import type { TraceEvent } from "./trace-event.js";
import { numberOf, TraceLog } from "./trace-log.js";

const env = (from: string, to: string, n: number, epoch: number): AppEnvelope => ({ kind: "app", id: messageId(`${from}.${n}`), from, to, epoch, body: { n }, link: 1 });

describe("TraceLog", () => {
  it("gives the events in order, sends and deliveries built with the keys and key order of pushed objects", () => {
    const log = new TraceLog();
    const e = env("a", "b", 1, 2);
    const create: TraceEvent = { kind: "create", t: 0, node: "a", version: "v@1", epoch: 2 };
    log.push(create);
    log.send(3, e);
    log.deliver(7, e);
    const events = log.events();
    expect(events[0]).toBe(create);
    expect(JSON.stringify(events.slice(1))).toBe(
      JSON.stringify([
        { kind: "send", t: 3, node: "a", to: "b", msg: "a.1", epoch: 2 },
        { kind: "deliver", t: 7, node: "b", from: "a", msg: "a.1", epoch: 2 },
      ]),
    );
    expect(log.length).toBe(3);
  });

  it("keeps what it built: a later call extends the same array with the same objects, across growth of its columns", () => {
    const log = new TraceLog();
    for (let i = 0; i < 1500; i++) log.send(i, env("a", "b", i, 1));
    const first = log.events();
    const firstSend = first[0];
    for (let i = 0; i < 40_000; i++) log.deliver(i + 0.5, env("a", "b", i, i % 3));
    log.push({ kind: "destroy", t: 40_000, node: "b" });
    const again = log.events();
    expect(again).toBe(first);
    expect(again[0]).toBe(firstSend);
    // Past two chunks of the columns: the events stay in order and whole across them.
    expect(again.length).toBe(41_501);
    expect(again[41_499]).toEqual({ kind: "deliver", t: 39_999.5, node: "b", from: "a", msg: "a.39999", epoch: 0 });
    expect(again[41_500]).toEqual({ kind: "destroy", t: 40_000, node: "b" });
    expect(again.slice(1500).every((e, i) => e.kind === "deliver" ? e.t === i + 0.5 : i === 40_000)).toBe(true);
    expect(again[1499]).toEqual({ kind: "send", t: 1499, node: "a", to: "b", msg: "a.1499", epoch: 1 });
  });

  it("keeps a host's message ids as numbers and writes them back the same; any other id is kept as it is", () => {
    expect(numberOf("n17.42", "n17")).toBe(42);
    expect(numberOf("a.0", "a")).toBe(0);
    for (const [id, from] of [["n17.42~1", "n17"], ["a.07", "a"], ["a.", "a"], ["b.1", "a"], ["ab1", "a"], ["a.1x", "a"], ["a.1234567890123456", "a"], ["a.b.1", "a"]] as const) {
      expect(numberOf(id, from)).toBe(-1);
    }
    const log = new TraceLog();
    const odd = ["a.7~2", "a.007", "custom", "a.0", "a.123456789012345", "a.b.3"];
    for (const [i, id] of odd.entries()) {
      const e: AppEnvelope = { kind: "app", id: messageId(id), from: i === 5 ? "a.b" : "a", to: "c", epoch: 0, body: null, link: 1 };
      log.send(i, e);
      log.deliver(i, e);
    }
    const msgs = log.events().map((e) => (e.kind === "send" || e.kind === "deliver" ? e.msg : ""));
    expect(msgs).toEqual(odd.flatMap((id) => [id, id]));
  });
});
