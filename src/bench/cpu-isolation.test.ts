import { describe, expect, it } from "vitest";
import { expand } from "./cpu-isolation.js";

describe("cpu isolation's CPU lists", () => {
  it("reads Linux's list syntax, ranges and singles, in order", () => {
    expect(expand("0-1")).toEqual([0, 1]);
    expect(expand("2,4-6")).toEqual([2, 4, 5, 6]);
    expect(expand("3")).toEqual([3]);
  });
});
