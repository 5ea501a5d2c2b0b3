import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FailpointError, FailpointSpecError } from "./errors.js";
import { FAILPOINTS, clearFailpoints, configureFailpoints, describeFailpoints, failpoint, parseFailpoints, setFailpoint } from "./failpoints.js";

afterEach(() => clearFailpoints());

describe("the failpoint spec", () => {
  it("reads crash, stall(ms), print and @n, separated by semicolons, blanks and a trailing ; ignored", () => {
    const spec = " daemon.after-load=crash ; daemon.before-send=stall(2000);tcp.reconnect=print@3;coordinator.report-received=stall(0)@1; ";
    expect([...parseFailpoints(spec)]).toEqual([
      ["daemon.after-load", { kind: "crash" }],
      ["daemon.before-send", { kind: "stall", ms: 2000 }],
      ["tcp.reconnect", { kind: "print", at: 3 }],
      ["coordinator.report-received", { kind: "stall", ms: 0, at: 1 }],
    ]);
    expect(parseFailpoints("").size).toBe(0);
  });

  it("refuses a point the code does not declare, listing the known ones and the grammar", () => {
    const e = (() => {
      try {
        parseFailpoints("node.before-swap=crash");
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(FailpointSpecError);
    expect((e as Error).message).toMatch(/^LIVESWAP_FAILPOINTS "node.before-swap=crash": no failpoint is named "node.before-swap" \(known: daemon.after-load, /);
    expect((e as Error).message).toContain('write point=action[@n] entries separated by ";"');
  });

  it.each([
    ["daemon.after-load", /entry "daemon.after-load" has no "=action"/],
    ["daemon.after-load=explode", /unknown action "explode"/],
    ["daemon.after-load=stall", /stall needs its duration in ms/],
    ["daemon.after-load=stall(soon)", /stall\(soon\) needs a whole number of ms/],
    ["daemon.after-load=stall(-1)", /stall\(-1\) needs a whole number of ms/],
    ["daemon.after-load=crash(1)", /crash takes no argument/],
    ["daemon.after-load=crash@0", /"@0" must be a pass number >= 1/],
    ["daemon.after-load=crash@x", /"@x" must be a pass number >= 1/],
    ["daemon.after-load=Crash!", /action "Crash!" is malformed/],
    ["daemon.after-load=crash;daemon.after-load=print", /point "daemon.after-load" is set twice/],
    ["daemon.after-load=throw", /throw is for in-process tests/],
  ])("refuses %j, naming what is wrong", (spec, why) => {
    expect(() => parseFailpoints(spec)).toThrow(FailpointSpecError);
    expect(() => parseFailpoints(spec)).toThrow(why);
  });

  it("a bad spec leaves the settings as they were", () => {
    configureFailpoints("daemon.after-load=print@2");
    expect(() => configureFailpoints("daemon.after-load=crash;typo=crash")).toThrow(FailpointSpecError);
    expect(describeFailpoints()).toBe("daemon.after-load=print@2");
    configureFailpoints(undefined);
    expect(describeFailpoints()).toBe("");
  });
});

describe("failpoints in process", () => {
  it("throw fires a FailpointError on every pass, @n on the n-th pass only", () => {
    failpoint("daemon.before-deliver"); // nothing set: a no-op
    setFailpoint("daemon.before-deliver", { kind: "throw" });
    expect(() => failpoint("daemon.before-deliver")).toThrow(FailpointError);
    expect(() => failpoint("daemon.before-deliver")).toThrow(/failpoint "daemon.before-deliver" was passed/);
    expect(() => failpoint("daemon.after-deliver")).not.toThrow();

    setFailpoint("daemon.after-deliver", "throw@3");
    const outcomes = [1, 2, 3, 4].map(() => {
      try {
        failpoint("daemon.after-deliver");
        return "passed";
      } catch (e) {
        return e instanceof FailpointError ? "threw" : "other";
      }
    });
    expect(outcomes).toEqual(["passed", "passed", "threw", "passed"]);
    clearFailpoints();
    expect(() => failpoint("daemon.before-deliver")).not.toThrow();
  });

  it("stall blocks the process for that long", () => {
    setFailpoint("tcp.reconnect", "stall(60)");
    const t0 = performance.now();
    failpoint("tcp.reconnect");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
  });

  it("setFailpoint refuses an unknown name or action", () => {
    expect(() => setFailpoint("daemon.nope" as "daemon.after-load", "crash")).toThrow(/no failpoint is named "daemon.nope"/);
    expect(() => setFailpoint("daemon.after-load", "boom")).toThrow(/unknown action "boom"/);
  });
});

/** Every production .ts file under src. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return sources(p);
    return d.name.endsWith(".ts") && !d.name.endsWith(".test.ts") ? [p] : [];
  });
}

it("every declared point is passed somewhere in the code (the registry lists no dead names)", () => {
  const code = sources(join(import.meta.dirname, "..")).map((f) => readFileSync(f, "utf8")).join("\n");
  const passed = new Set([...code.matchAll(/failpoint\("([^"]+)"\)/g)].map((m) => m[1]));
  expect(FAILPOINTS.filter((p) => !passed.has(p))).toEqual([]);
});
