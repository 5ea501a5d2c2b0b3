import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { runExperiment } from "../scenarios/replicated-db/experiment.js";
import { checkTrace } from "../check/checker.js";
import { toNdjson } from "../core/trace/ndjson.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import { messageId as id } from "../core/ids.js";
import { escapeXml, renderSpaceTime, renderSpaceTimeHtml, renderSpaceTimeSvg } from "./space-time.js";
import { registerViz } from "./viz-command.js";
import { CHAR_PX } from "./header-labels.js";
import { LEFT } from "./svg-frame.js";

/** Every element of the markup whose class list holds `cls`, as its tag and attributes. */
function elements(markup: string, cls: string): { tag: string; attrs: Record<string, string> }[] {
  const out: { tag: string; attrs: Record<string, string> }[] = [];
  for (const m of markup.matchAll(/<([a-zA-Z]+)((?:\s+[\w:-]+="[^"]*")*)\s*\/?>/g)) {
    const attrs: Record<string, string> = {};
    for (const a of (m[2] ?? "").matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[a[1] as string] = a[2] as string;
    if ((attrs.class ?? "").split(/\s+/).includes(cls)) out.push({ tag: m[1] as string, attrs });
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), "liveswap-viz-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Three nodes on a line, r2 - r10 - r9 sorted as r2, r9, r10: a, b before the
 * update, r10 turns new at 20 (naive), r2 sends an old message that r10 runs
 * after its swap (a correctness violation), and r9 sends one that is
 * transformed at r10 into a new-equivalent.
 */
function handTrace(): TraceEvent[] {
  return [
    { kind: "create", t: 0, node: "r2", version: "v1", epoch: 0 },
    { kind: "create", t: 0, node: "r10", version: "v1", epoch: 0 },
    { kind: "create", t: 0, node: "r9", version: "v1", epoch: 0 },
    { kind: "link", t: 0, a: "r2", b: "r10" },
    { kind: "link", t: 0, a: "r10", b: "r9" },
    { kind: "send", t: 1, node: "r2", to: "r10", msg: id("a.1"), epoch: 0 },
    { kind: "deliver", t: 4, node: "r10", from: "r2", msg: id("a.1"), epoch: 0 },
    { kind: "send", t: 5, node: "r10", to: "r9", msg: id("b.1"), epoch: 0 },
    { kind: "deliver", t: 9, node: "r9", from: "r10", msg: id("b.1"), epoch: 0 },
    { kind: "update-start", t: 18, update: 1, strategy: "naive", root: "r10", nodes: ["r2", "r10", "r9"] },
    { kind: "send", t: 19, node: "r2", to: "r10", msg: id("a.2"), epoch: 0 },
    { kind: "send", t: 19, node: "r9", to: "r10", msg: id("c.1"), epoch: 0 },
    { kind: "swap", t: 20, node: "r10", update: 1, from: "v1", to: "v2", epoch: 1 },
    { kind: "deliver", t: 23, node: "r10", from: "r2", msg: id("a.2"), epoch: 0 },
    { kind: "transform", t: 24, node: "r10", from: "r9", to: "r10", msg: id("c.1"), into: [id("c.1~1")], epoch: 1 },
    { kind: "deliver", t: 24, node: "r10", from: "r9", msg: id("c.1~1"), epoch: 1 },
    { kind: "control-send", t: 25, node: "r10", to: "r9", update: 1, signal: "m", plane: false },
    { kind: "control-receive", t: 28, node: "r9", from: "r10", update: 1, signal: "m", plane: false },
    { kind: "swap", t: 30, node: "r9", update: 1, from: "v1", to: "v2", epoch: 1 },
    { kind: "swap", t: 31, node: "r2", update: 1, from: "v1", to: "v2", epoch: 1 },
    { kind: "update-end", t: 31, update: 1, outcome: "completed" },
    { kind: "send", t: 33, node: "r9", to: "r10", msg: id("c.2"), epoch: 1 },
    { kind: "deliver", t: 37, node: "r10", from: "r9", msg: id("c.2"), epoch: 1 },
  ];
}

describe("renderSpaceTimeSvg on a hand-made trace", () => {
  const trace = handTrace();
  const report = checkTrace(trace, { complete: true });
  const svg = renderSpaceTimeSvg(trace, { violations: report.violations, pxPerMs: 10 });

  it("draws one line per node, in counting order", () => {
    const lines = elements(svg, "node-line");
    expect(lines.map((l) => l.attrs["data-node"])).toEqual(["r2", "r9", "r10"]);
    const ys = lines.map((l) => Number(l.attrs.y1));
    expect(ys[0]).toBeLessThan(ys[1] as number);
    expect(ys[1]).toBeLessThan(ys[2] as number);
  });

  it("draws one arrow per delivered application message, from sender to receiver", () => {
    const msgs = elements(svg, "msg");
    const delivered = trace.filter((e) => e.kind === "deliver").map((e) => (e as { msg: string }).msg);
    expect(msgs.map((m) => m.attrs["data-msg"]).sort()).toEqual([...delivered].sort());
    const a1 = msgs.find((m) => m.attrs["data-msg"] === "a.1");
    expect(a1?.attrs).toMatchObject({ "data-from": "r2", "data-to": "r10", "data-sent": "1", "data-delivered": "4" });
    // from (1 ms, r2) to (4 ms, r10): 10 px per ms, the arrow runs 30 px to the right and down
    const [x1, y1, x2, y2] = (a1?.attrs.d ?? "").match(/-?\d+(\.\d+)?/g)?.map(Number) ?? [];
    expect((x2 as number) - (x1 as number)).toBeCloseTo(30, 5);
    expect(y2).toBeGreaterThan(y1 as number);
    expect(a1?.attrs.class).toContain("old");
    expect(msgs.find((m) => m.attrs["data-msg"] === "c.2")?.attrs.class).toContain("new");
  });

  it("draws the line thick red from each swap on", () => {
    const segs = elements(svg, "new-segment");
    expect(segs.map((s) => s.attrs["data-node"]).sort()).toEqual(["r10", "r2", "r9"].sort());
    const r10 = segs.find((s) => s.attrs["data-node"] === "r10");
    const line = elements(svg, "node-line").find((l) => l.attrs["data-node"] === "r10");
    expect(Number(r10?.attrs.x1) - Number(line?.attrs.x1)).toBeCloseTo(200, 5); // swap at 20 ms, 10 px/ms
    expect(r10?.attrs.x2).toBe(line?.attrs.x2);
    expect(r10?.attrs["data-epoch"]).toBe("1");
  });

  it("highlights the message a violation names and marks the violation on the time axis", () => {
    expect(report.violations.length).toBeGreaterThan(0);
    const viol = elements(svg, "violation");
    expect(viol.some((v) => v.attrs["data-msg"] === "a.2" && v.attrs.class?.split(" ").includes("msg"))).toBe(true);
    expect(viol.some((v) => v.attrs["data-msg"] === "a.1")).toBe(false);
    expect(elements(svg, "violation-mark")).toHaveLength(report.violations.length);
  });

  it("draws the transform: the original arrow ends at a diamond, the new-equivalent is a distinct .msg", () => {
    expect(elements(svg, "msg-replaced").map((e) => e.attrs["data-msg"])).toEqual(["c.1"]);
    expect(elements(svg, "transform-mark").map((e) => [e.attrs["data-msg"], e.attrs["data-into"]])).toEqual([["c.1", "c.1~1"]]);
    const into = elements(svg, "msg").find((m) => m.attrs["data-msg"] === "c.1~1");
    expect(into?.attrs.class?.split(" ")).toContain("transformed");
    expect(into?.attrs["data-via"]).toBe("c.1");
  });

  it("draws control messages on data channels labelled with their signal, and leaves the coordinator out", () => {
    expect(elements(svg, "control").map((c) => [c.attrs["data-signal"], c.attrs["data-from"], c.attrs["data-to"]])).toEqual([["m", "r10", "r9"]]);
    expect(svg).toContain(`class="control-label" `);
    expect(svg).not.toContain("@control");
    expect(elements(svg, "update-window")).toHaveLength(1);
  });
});

describe("a window cut from a longer trace (the console's diagram)", () => {
  // From 25 ms on: no create event is in it; r9 and r2 swap in it, r10 swapped before it.
  const window = handTrace().filter((e) => e.t >= 25);
  const labels = (svg: string): Record<string, string> =>
    Object.fromEntries([...svg.matchAll(/data-node="([^"]+)" x="10" y="(\d+)">[^<]*<\/text>\s*(?:<text class="node-version" x="10" y="\d+">([^<]*)<\/text>)?/g)].map((m) => [m[1] as string, m[3] ?? ""]));

  it("labels no lane with a version the window does not show", () => {
    expect(labels(renderSpaceTimeSvg(window))).toEqual({ r2: "", r9: "", r10: "" });
  });

  it("labels a lane that neither starts nor swaps in it with its version at the end, and leaves a lane that swaps in it to its swap's label", () => {
    const svg = renderSpaceTimeSvg(window, { versionsAtEnd: { r2: "v2", r9: "v2", r10: "v2" } });
    expect(labels(svg)).toEqual({ r2: "", r9: "", r10: "v2" });
    expect(elements(svg, "node-line").find((l) => l.attrs["data-node"] === "r10")?.attrs["data-version"]).toBe("v2");
    expect(elements(svg, "swap-label").length).toBe(2);
  });
});

describe("held, buffered, dropped, rolled back", () => {
  const trace: TraceEvent[] = [
    { kind: "create", t: 0, node: "p", version: "v1", epoch: 0 },
    { kind: "create", t: 0, node: "q", version: "v1", epoch: 0 },
    // held at p from 2 until its transform and release at 10
    { kind: "send", t: 2, node: "p", to: "q", msg: id("p.1"), epoch: 0 },
    { kind: "hold", t: 2, node: "p", to: "q", msg: id("p.1") },
    { kind: "send", t: 3, node: "p", to: "q", msg: id("p.2"), epoch: 0 },
    { kind: "hold", t: 3, node: "p", to: "q", msg: id("p.2") },
    { kind: "swap", t: 10, node: "p", update: 1, from: "v1", to: "v2", epoch: 1 },
    { kind: "transform", t: 10, node: "p", from: "p", to: "q", msg: id("p.1"), into: [id("p.1~1")], epoch: 1 },
    { kind: "release", t: 10, node: "p", to: "q", msg: id("p.1~1") },
    { kind: "release", t: 11, node: "p", to: "q", msg: id("p.2") },
    // buffered at q from 5 until delivered at 15
    { kind: "send", t: 1, node: "q", to: "p", msg: id("q.1"), epoch: 0 },
    { kind: "buffer", t: 5, node: "p", from: "q", msg: id("q.1") },
    { kind: "deliver", t: 15, node: "p", from: "q", msg: id("q.1"), epoch: 0 },
    { kind: "deliver", t: 16, node: "q", from: "p", msg: id("p.1~1"), epoch: 1 },
    { kind: "deliver", t: 17, node: "q", from: "p", msg: id("p.2"), epoch: 0 },
    // q: checkpoints, an orphan dropped, a rollback
    { kind: "checkpoint", t: 12, node: "q", event: 3 },
    { kind: "send", t: 13, node: "q", to: "p", msg: id("q.2"), epoch: 0 },
    { kind: "drop", t: 18, node: "p", from: "q", msg: id("q.2"), reason: "orphan" },
    { kind: "rollback", t: 19, node: "q", update: 1, to: 3, undone: 4, receives: [id("p.2")], sends: [id("q.2")], requests: [], timers: [] },
    { kind: "replay", t: 19, node: "q", of: "receive", msg: id("p.2") },
    { kind: "swap", t: 19, node: "q", update: 1, from: "v1", to: "v2", epoch: 1 },
  ];
  const svg = renderSpaceTimeSvg(trace, { pxPerMs: 10 });

  it("shows messages held by the sender as one span toward the destination", () => {
    const held = elements(svg, "held").filter((e) => e.tag === "path");
    expect(held).toHaveLength(1);
    expect(held[0]?.attrs).toMatchObject({ "data-node": "p", "data-to": "q", "data-count": "2", "data-start": "2", "data-end": "11" });
    // the held message's new-equivalent flies from its release
    const into = elements(svg, "msg").find((m) => m.attrs["data-msg"] === "p.1~1");
    expect(into?.attrs.class?.split(" ")).toContain("transformed");
  });

  it("shows messages buffered by the receiver as a span until delivery", () => {
    const buf = elements(svg, "buffered").filter((e) => e.tag === "path");
    expect(buf).toHaveLength(1);
    expect(buf[0]?.attrs).toMatchObject({ "data-node": "p", "data-from": "q", "data-count": "1", "data-start": "5", "data-end": "15" });
    const q1 = elements(svg, "msg").find((m) => m.attrs["data-msg"] === "q.1");
    expect(q1?.attrs["data-arrived"]).toBe("5");
  });

  it("ends a dropped message with an X and marks the rollback with its undone events", () => {
    expect(elements(svg, "drop-mark").map((d) => [d.attrs["data-msg"], d.attrs["data-reason"], d.attrs.class])).toEqual([["q.2", "orphan", "drop-mark orphan"]]);
    expect(elements(svg, "msg-dropped").map((d) => d.attrs["data-msg"])).toEqual(["q.2"]);
    const rb = elements(svg, "rollback");
    expect(rb).toHaveLength(1);
    expect(rb[0]?.attrs).toMatchObject({ "data-node": "q", "data-undone": "4", "data-to-time": "12", "data-replayed": "1" });
    expect(svg).toContain("↶ 4 undone");
    expect(elements(svg, "msg").find((m) => m.attrs["data-msg"] === "p.2")?.attrs.class?.split(" ")).toContain("undone");
    expect(elements(svg, "checkpoint")).toHaveLength(1);
  });
});

describe("escaping and limits", () => {
  it("escapes node ids, signals, versions and titles that come from users", () => {
    const evil = `<script>alert("x")</script>&'`;
    const trace: TraceEvent[] = [
      { kind: "create", t: 0, node: evil, version: `<b>v1</b>`, epoch: 0 },
      { kind: "create", t: 0, node: "ok", version: "v1", epoch: 0 },
      { kind: "send", t: 1, node: evil, to: "ok", msg: id(`"><img src=x>`), epoch: 0 },
      { kind: "deliver", t: 2, node: "ok", from: evil, msg: id(`"><img src=x>`), epoch: 0 },
      { kind: "control-send", t: 3, node: "ok", to: evil, update: 1, signal: `</text><script>1</script>`, plane: false },
      { kind: "control-receive", t: 4, node: evil, from: "ok", update: 1, signal: `</text><script>1</script>`, plane: false },
    ];
    const html = renderSpaceTimeHtml(trace, { title: `<title>"t"`, violations: [{ invariant: "awareness", at: 2, message: `message "><img src=x> <b>lost</b>` }] });
    expect(html).not.toContain("<script>alert");
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<b>");
    expect(html).not.toContain("<script>1");
    expect(html).toContain(escapeXml(evil));
    expect(html).toContain("&lt;title&gt;&quot;t&quot;");
    expect(html.match(/<script>/g)).toHaveLength(1); // the page's own
    const lines = elements(html, "node-line");
    expect(lines.map((l) => l.attrs["data-node"])).toContain(escapeXml(evil));
  });

  it("is self-contained: no external resources", () => {
    const html = renderSpaceTimeHtml(handTrace());
    expect(html).not.toMatch(/\b(src|href)\s*=\s*"(https?:)?\/\//);
    expect(html).not.toMatch(/@import|url\(\s*["']?https?:/);
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
  });

  it("draws only the first events of a long trace and says so", () => {
    const trace: TraceEvent[] = [
      { kind: "create", t: 0, node: "a", version: "v1", epoch: 0 },
      { kind: "create", t: 0, node: "b", version: "v1", epoch: 0 },
    ];
    for (let i = 1; i <= 500; i++) {
      trace.push({ kind: "send", t: i, node: "a", to: "b", msg: id(`a.${i}`), epoch: 0 });
      trace.push({ kind: "deliver", t: i + 3, node: "b", from: "a", msg: id(`a.${i}`), epoch: 0 });
    }
    const r = renderSpaceTime(trace, { maxEvents: 100 });
    expect(r.stats).toMatchObject({ truncated: true, eventsDrawn: 100, eventsTotal: 1002 });
    expect(elements(r.svg, "msg").length).toBeLessThan(50);
    expect(r.svg).toContain("first 100 of 1002 events drawn");
    const html = renderSpaceTimeHtml(trace, { maxEvents: 100 });
    expect(html).toContain("only the first 100 are drawn");
    // the scale comes down to keep the width bounded
    const wide = renderSpaceTime(trace, { maxWidth: 2000 });
    expect(wide.stats.width).toBeLessThanOrEqual(2001);
  });
});

describe("liveswap viz", () => {
  const program = (out: string[]): Command => {
    const p = new Command();
    p.exitOverride().configureOutput({ writeErr: (s) => out.push(s), writeOut: (s) => out.push(s) });
    registerViz(p, (l) => out.push(l));
    return p;
  };
  const traceFile = join(dir, "hand.ndjson");
  writeFileSync(traceFile, toNdjson(handTrace()));

  it("writes the page and says what it drew", async () => {
    const out: string[] = [];
    const html = join(dir, "hand.html");
    await program(out).parseAsync(["viz", traceFile, "-o", html, "--title", "hand <made>"], { from: "user" });
    const page = readFileSync(html, "utf8");
    expect(page).toContain("<title>hand &lt;made&gt;</title>");
    expect(out.join("\n")).toMatch(/^wrote .*hand\.html \(\d+ KB\): 3 nodes, 5 messages, 1 control messages, \d+ violations?/);
    expect(elements(page, "violation").length).toBeGreaterThan(0);
  });

  it("judges a partial trace as incomplete with --partial", async () => {
    const cut = join(dir, "cut.ndjson");
    writeFileSync(cut, toNdjson(handTrace().slice(0, 12))); // c.1 and a.2 still in flight, the update still running
    const complete: string[] = [];
    await program(complete).parseAsync(["viz", cut, "-o", join(dir, "cut1.html")], { from: "user" });
    const partial: string[] = [];
    await program(partial).parseAsync(["viz", cut, "-o", join(dir, "cut2.html"), "--partial"], { from: "user" });
    expect(complete.join("")).not.toContain(" 0 violations");
    expect(partial.join("")).toContain(" 0 violations");
    expect(elements(readFileSync(join(dir, "cut2.html"), "utf8"), "msg-pending").length).toBe(2);
  });

  it("refuses to run without -o, naming the option", async () => {
    const out: string[] = [];
    await expect(program(out).parseAsync(["viz", traceFile], { from: "user" })).rejects.toThrow(/--output/);
  });

  it("names the file and the line of bad input", async () => {
    const bad = join(dir, "bad.ndjson");
    writeFileSync(bad, `${JSON.stringify(handTrace()[0])}\n\n{"kind": "send", "t": 1,\n`);
    await expect(program([]).parseAsync(["viz", bad, "-o", join(dir, "x.html")], { from: "user" })).rejects.toThrow(`${bad}: trace line 3: not JSON`);
    const unknown = join(dir, "unknown.ndjson");
    writeFileSync(unknown, `${JSON.stringify(handTrace()[0])}\n{"kind":"teleport","t":1}\n`);
    await expect(program([]).parseAsync(["viz", unknown, "-o", join(dir, "x.html")], { from: "user" })).rejects.toThrow(`${unknown}: trace line 2: unknown event kind "teleport"`);
    const missing = join(dir, "missing.ndjson");
    await expect(program([]).parseAsync(["viz", missing, "-o", join(dir, "x.html")], { from: "user" })).rejects.toThrow(`cannot read trace file "${missing}"`);
    const empty = join(dir, "empty.ndjson");
    writeFileSync(empty, "\n");
    await expect(program([]).parseAsync(["viz", empty, "-o", join(dir, "x.html")], { from: "user" })).rejects.toThrow(`${empty}: no trace events`);
  });
});

/** Debian's chromium (.ci/run installs it); LIVESWAP_CHROMIUM names another binary. */
const CHROMIUM = process.env.LIVESWAP_CHROMIUM ?? "/usr/bin/chromium";
const skipBrowser = process.env.LIVESWAP_SKIP_BROWSER === "1";

describe.skipIf(skipBrowser)("the page in a real browser (headless Chromium; LIVESWAP_SKIP_BROWSER=1 skips)", () => {
  it("draws the demo's trace: a line per node, an arrow per delivered message, red after each swap", async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: the browser test needs it (apt-get install chromium; .ci/run installs it). Set LIVESWAP_SKIP_BROWSER=1 to skip this test.`);
    }
    const r = await runExperiment({ strategy: "naive", seed: 1, nodes: 4, entries: 5 });
    const trace = [...r.system.trace()];
    await r.system.close();
    const report = checkTrace(trace, { complete: true });
    const file = join(dir, "demo.html");
    writeFileSync(file, renderSpaceTimeHtml(trace, { title: "naive, 4 nodes", violations: report.violations }));

    const nodes = new Set(trace.filter((e) => e.kind === "create").map((e) => (e as { node: string }).node));
    const delivered = trace.filter((e) => e.kind === "deliver").length;
    const swapped = new Set(trace.filter((e) => e.kind === "swap").map((e) => (e as { node: string }).node));
    expect(nodes.size).toBe(4);
    expect(delivered).toBeGreaterThan(0);
    expect(swapped.size).toBe(4);

    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
      const requests: string[] = [];
      const errors: string[] = [];
      page.on("request", (req) => requests.push(req.url()));
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`file://${file}`);

      const svg = page.locator("svg.st");
      const attr = (sel: string, name: string): Promise<(string | null)[]> => svg.locator(sel).evaluateAll((els, n) => els.map((e) => e.getAttribute(n)), name);
      expect((await attr(".node-line", "data-node")).sort()).toEqual([...nodes].sort());
      expect(await svg.locator(".msg").count()).toBe(delivered);
      expect(new Set(await attr(".new-segment", "data-node"))).toEqual(swapped);
      expect(await page.locator("ol.violations li").count()).toBe(report.violations.length);
      if (report.violations.length > 0) expect(await svg.locator(".violation").count()).toBeGreaterThan(0);
      expect((await svg.boundingBox())?.width ?? 0).toBeGreaterThan(1000);
      expect(await page.locator("#st-scroll").evaluate((e) => e.scrollLeft)).toBeGreaterThan(0); // the page opens at the update

      // the tooltip says what a message arrow is
      await svg.locator(".msg").first().dispatchEvent("mousemove", { bubbles: true, clientX: 20, clientY: 20 });
      expect(await page.locator("#st-tip").isVisible()).toBe(true);
      expect(await page.locator("#st-tip").textContent()).toMatch(/^application message[\s\S]*msg: /);

      const png = join(tmpdir(), "liveswap-viz-demo.png");
      await page.screenshot({ path: png });
      expect(statSync(png).size).toBeGreaterThan(10_000);
      expect(requests.filter((u) => !u.startsWith("file://"))).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

/**
 * Two updates close together near the end of a short trace, the second with a
 * long root id, and a cut: before the header was laid out, the first label ran
 * off the drawing's right edge and the labels were drawn over one another.
 */
function crowdedHeaderTrace(): TraceEvent[] {
  const trace = handTrace();
  const root = "replica-with-a-long-name";
  return [
    ...trace.map((e) => (e.kind === "update-start" ? { ...e, t: 30 } : e.kind === "update-end" ? { ...e, t: 34 } : e)),
    { kind: "update-start", t: 35, update: 2, strategy: "conservative", root, nodes: ["r2", "r10", "r9"] },
    { kind: "update-end", t: 37, update: 2, outcome: "failed" },
  ];
}

describe.skipIf(skipBrowser)("the header labels in a real browser (headless Chromium)", () => {
  it("fit the drawing, overlap nothing, and are no wider than their estimate (screenshot in the temp dir)", async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the browser test needs it (apt-get install chromium). Set LIVESWAP_SKIP_BROWSER=1 to skip this test.`);
    const trace = crowdedHeaderTrace();
    const file = join(dir, "header.html");
    writeFileSync(file, renderSpaceTimeHtml(trace, { title: "two updates at the end", pxPerMs: 10, maxEvents: trace.length - 1 }));
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"] });
    try {
      const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
      await page.goto(`file://${file}`);
      await page.locator("#st-scroll").evaluate((e) => (e.scrollLeft = 0));
      const boxes = await page.locator("svg.st").evaluate((svg) => {
        const width = Number(svg.getAttribute("width"));
        // This project's types have no DOM: the two shapes the measurement needs, as the browser gives them.
        type Line = { textContent: string | null; getComputedTextLength(): number };
        type Label = { textContent: string | null; getBBox(): { x: number; y: number; width: number; height: number }; querySelectorAll(s: string): ArrayLike<unknown> };
        const texts = Array.from(svg.querySelectorAll("text.update-label, text.truncated")) as unknown as Label[];
        return {
          width,
          labels: texts.map((t) => {
            const b = t.getBBox();
            const lines = Array.from(t.querySelectorAll("tspan")) as Line[];
            return { text: t.textContent ?? "", x: b.x, y: b.y, w: b.width, h: b.height, measured: Math.max(...lines.map((l) => l.getComputedTextLength())), chars: Math.max(...lines.map((l) => (l.textContent ?? "").length)) };
          }),
        };
      });
      await page.screenshot({ path: join(tmpdir(), "liveswap-viz-header.png"), fullPage: true });
      // The cut leaves update #2 without its end; a wrapped label's lines join without the space.
      expect(boxes.labels.map((l) => l.text).sort()).toEqual([
        expect.stringMatching(/^trace cut here:\s?first 24 of 25 events drawn$/),
        expect.stringMatching(/^update #1: naive from r10,\s?30 → 34 ms, completed$/),
        expect.stringMatching(/^update #2: conservative from replica-with-a-long-name,\s?35 → not ended$/),
      ]);
      for (const l of boxes.labels) {
        expect(l.x, l.text).toBeGreaterThanOrEqual(LEFT);
        expect(l.x + l.w, l.text).toBeLessThanOrEqual(boxes.width);
        expect(l.measured, `${l.text}: the estimate must not be below the browser's width`).toBeLessThanOrEqual(l.chars * CHAR_PX);
      }
      for (const [i, a] of boxes.labels.entries()) {
        for (const b of boxes.labels.slice(i + 1)) {
          const apart = a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y;
          expect(apart, `"${a.text}" and "${b.text}" overlap`).toBe(true);
        }
      }
    } finally {
      await browser.close();
    }
  });
});

describe("a trace with wall-clock times (a TCP cluster)", () => {
  it("counts its axis from the first event and says when that was", () => {
    const t0 = Date.UTC(2026, 10, 24, 21, 36, 9, 822);
    const trace = handTrace().map((e) => ({ ...e, t: e.t + t0 }) as TraceEvent);
    const html = renderSpaceTimeHtml(trace);
    expect(html).toContain("wall-clock ms from 2026-11-24T21:36:09.822Z");
    const ticks = elements(html, "tick-label");
    expect(ticks.length).toBeGreaterThan(2);
    for (const m of html.matchAll(/class="tick-label"[^>]*>([^<]*)</g)) expect(Number(m[1])).toBeLessThan(1e6);
    // A simulated trace keeps virtual time as it is.
    expect(renderSpaceTimeHtml(handTrace())).toMatch(/virtual ms at/);
  });
});
