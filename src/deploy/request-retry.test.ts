import { describe, expect, it } from "vitest";
import { InvalidOptionError } from "../core/errors.js";
import { backoffDelay, DEFAULT_RETRY, retryPolicy } from "./request-retry.js";

describe("the request retry policy", () => {
  it("defaults: 6 attempts, waits doubling from about 100 ms, capped at 2 s, half of each random", () => {
    expect(DEFAULT_RETRY).toEqual({ attempts: 6, backoffMs: 100, maxBackoffMs: 2_000 });
    const low = [1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, DEFAULT_RETRY, () => 0));
    const high = [1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, DEFAULT_RETRY, () => 0.999999));
    expect(low).toEqual([50, 100, 200, 400, 800, 1000]);
    expect(high.map(Math.round)).toEqual([100, 200, 400, 800, 1600, 2000]);
  });

  it("fills in the defaults and refuses a bad value, naming the field", () => {
    expect(retryPolicy({ attempts: 2 })).toEqual({ attempts: 2, backoffMs: 100, maxBackoffMs: 2_000 });
    expect(() => retryPolicy({ attempts: 0 })).toThrow(InvalidOptionError);
    expect(() => retryPolicy({ attempts: 1.5 })).toThrow(/option retry\.attempts: must be a whole number >= 1, got 1\.5/);
    expect(() => retryPolicy({ backoffMs: -1 })).toThrow(/option retry\.backoffMs: must be a number of ms >= 0/);
  });
});
