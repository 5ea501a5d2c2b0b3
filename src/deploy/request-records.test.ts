import { describe, expect, it } from "vitest";
import { LiveswapError, RequestExpiredError, RequestIdReusedError } from "../core/errors.js";
import * as publicApi from "../index.js";
import { DEFAULT_RETENTION, RequestRecords } from "./request-records.js";

/** A record set on a clock the test moves by hand (ms), starting at 1,000,000. */
function records(options: { maxRecords?: number; maxAgeMs?: number; clockSkewMs?: number } = {}) {
  const clock = { t: 1_000_000 };
  const r = new RequestRecords("r0", () => clock.t, { clockSkewMs: 0, ...options });
  return { r, clock };
}

describe("RequestRecords: one execution per request id", () => {
  it("an unknown id may run; once accepted a retry sees it open, then its recorded answer or failure", () => {
    const { r } = records();
    expect(r.lookup("a")).toBeUndefined();
    r.accept("a");
    expect(r.lookup("a", 1_000_001)).toEqual({ status: "open" });
    expect(r.open).toBe(1);
    expect(r.answer("a", { count: 1 })).toBe(true);
    expect(r.lookup("a", 1_000_001)).toEqual({ status: "answered", answer: { count: 1 } });
    // A second answer (a handler responding twice) changes nothing: the first one is the record.
    expect(r.answer("a", { count: 2 })).toBe(false);
    expect(r.lookup("a")).toEqual({ status: "answered", answer: { count: 1 } });
    r.accept("b");
    expect(r.fail("b", "Error: boom")).toBe(true);
    expect(r.lookup("b")).toEqual({ status: "failed", reason: "Error: boom" });
    expect(r.open).toBe(0);
    expect(r.answer("never-seen", 1)).toBe(false);
  });

  it("a used id with another body is refused; the same body (or no fingerprint) is a retry", () => {
    const { r } = records();
    r.accept("a", "sha-1");
    expect(r.lookup("a", undefined, "sha-1")).toEqual({ status: "open" });
    expect(r.lookup("a")).toEqual({ status: "open" });
    expect(() => r.lookup("a", undefined, "sha-2")).toThrow(RequestIdReusedError);
    expect(() => r.lookup("a", undefined, "sha-2")).toThrow(/request "a" to node "r0": this id was already used with a different body/);
  });
});

describe("RequestRecords: the retention window", () => {
  it("by count: the oldest settled records go first, and a retry of one of them is refused as expired", () => {
    const { r, clock } = records({ maxRecords: 3 });
    for (const id of ["a", "b", "c", "d"]) {
      clock.t += 10;
      r.accept(id);
      r.answer(id, id.toUpperCase());
    }
    expect(r.size).toBe(3);
    // "a" (accepted at 1,000,010) is forgotten: a retry first sent before that might be of it.
    expect(() => r.lookup("a", 1_000_005)).toThrow(RequestExpiredError);
    expect(r.lookup("b", 1_000_015)).toEqual({ status: "answered", answer: "B" });
    // An unknown id whose first send came after the newest forgotten acceptance never reached us: it may run.
    expect(r.lookup("e", 1_000_011)).toBeUndefined();
    // A first attempt (no `since`) is always new.
    expect(r.lookup("a")).toBeUndefined();
  });

  it("by count, open requests are never forgotten (their answer is still to come)", () => {
    const { r, clock } = records({ maxRecords: 2 });
    r.accept("slow");
    for (const id of ["x", "y", "z"]) {
      clock.t += 10;
      r.accept(id);
      r.answer(id, id);
    }
    expect(r.lookup("slow")).toEqual({ status: "open" });
    expect(r.lookup("x")).toBeUndefined();
    expect(r.lookup("z")).toEqual({ status: "answered", answer: "z" });
    expect(r.size).toBe(2);
  });

  it("by age: a settled record is forgotten maxAgeMs after its acceptance", () => {
    const { r, clock } = records({ maxAgeMs: 60_000 });
    r.accept("a");
    r.answer("a", 1);
    clock.t += 59_999;
    expect(r.lookup("a", 1_000_000)).toEqual({ status: "answered", answer: 1 });
    clock.t += 2;
    expect(() => r.lookup("a", 1_000_000)).toThrow(RequestExpiredError);
    expect(r.size).toBe(0);
  });

  it("a retry first sent before the records began (the node restarted since) is refused: it may have run in the earlier life", () => {
    const { r } = records();
    expect(() => r.lookup("a", 999_999)).toThrow(RequestExpiredError);
    expect(r.lookup("a", 1_000_001)).toBeUndefined();
  });

  it("the clock margin refuses retries whose first send is within it of the horizon (a client clock running ahead)", () => {
    const { r } = records({ clockSkewMs: 500 });
    expect(() => r.lookup("a", 1_000_400)).toThrow(RequestExpiredError);
    expect(r.lookup("a", 1_000_501)).toBeUndefined();
  });

  it("the expired error says the id is older than the window, that the request may or may not have run, and what to do", () => {
    const { r, clock } = records({ maxRecords: 1 });
    r.accept("a");
    r.answer("a", 1);
    clock.t += 1;
    r.accept("b");
    r.answer("b", 2);
    let thrown: unknown;
    try {
      r.lookup("a", 1_000_000);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(LiveswapError);
    expect(thrown).toMatchObject({ code: "REQUEST_EXPIRED", node: "r0", request: "a", name: "RequestExpiredError" });
    expect((thrown as Error).message).toBe(
      'request "a" to node "r0": its id is older than the node\'s retention window (it keeps the last 1 requests for at most 600 s ' +
        "and has forgotten 1, the newest accepted at 1970-01-01T00:16:40.000Z), so the request may or may not have run; check " +
        "whether its effect is there (read the state) before sending it again under a new id",
    );
  });

  it("defaults: 10,000 records, 10 minutes, 1 s of clock margin; the errors are exported from the package index", () => {
    expect(DEFAULT_RETENTION).toEqual({ maxRecords: 10_000, maxAgeMs: 600_000, clockSkewMs: 1_000 });
    expect(publicApi.RequestExpiredError).toBe(RequestExpiredError);
    expect(publicApi.RequestIdReusedError).toBe(RequestIdReusedError);
  });
});
