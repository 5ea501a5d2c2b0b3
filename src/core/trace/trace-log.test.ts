import { describe, expect, it } from "vitest";
import type { AppEnvelope } from "../envelope.js";
import { messageId } from "../ids.js";
import type { TraceEvent } from "./trace-event.js";
import { TraceLog } from "./trace-log.js";

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
});
