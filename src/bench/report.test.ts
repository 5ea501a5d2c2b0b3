import { beforeAll, describe, expect, it } from "vitest";
import type { Strategy } from "../index.js";
import { measureDisruption, type StrategyDisruption } from "./disruption.js";
import { seedList } from "./format.js";
import { disruptionHtml, disruptionMarkdown, disruptionTable, niceTicks, type ReportMeta } from "./report.js";

let results: StrategyDisruption[];
const meta: ReportMeta = { nodes: 3, entries: 5, seeds: [1], date: "2025-06-01 (caller's string)" };

beforeAll(async () => {
  results = await measureDisruption({ strategies: ["naive", "conservative", "cut"], seeds: [1], nodes: 3, entries: 5 });
});

// Independent of the report's own helpers: what a figure should read like.
const r1 = (x: number): string => String(Math.round(x * 10) / 10);
const lat = (l: { p50: number; p99: number; max: number }): string => `${r1(l.p50)} / ${r1(l.p99)} / ${r1(l.max)}`;

/** The rows of the first markdown table after `marker`, as header -> cell maps, keyed by the first cell. */
function markdownTable(md: string, marker: string): { heads: string[]; rows: Map<string, Map<string, string>> } {
  const lines = md.slice(md.indexOf(marker)).split("\n");
  const start = lines.findIndex((l) => l.startsWith("| "));
  const block: string[] = [];
  for (let i = start; i < lines.length && (lines[i] as string).startsWith("|"); i++) block.push(lines[i] as string);
  // split on pipes that are not backslash-escaped
  const cells = (l: string): string[] => l.slice(2, -2).split(/(?<!\\) \| /).map((c) => c.trim());
  const heads = cells(block[0] as string);
  const rows = new Map<string, Map<string, string>>();
  for (const l of block.slice(2)) {
    const c = cells(l);
    expect(c).toHaveLength(heads.length);
    rows.set(c[0] as string, new Map(heads.map((h, i) => [h, c[i] as string])));
  }
  return { heads, rows };
}

function svgs(html: string): string[] {
  return [...html.matchAll(/<svg\b[\s\S]*?<\/svg>/g)].map((m) => m[0]);
}

describe("disruptionTable", () => {
  it("has a row per strategy with the measured figures", () => {
    const md = disruptionTable(results);
    const { heads, rows } = markdownTable(md, "Virtual time");
    expect([...rows.keys()]).toEqual(["naive", "conservative", "cut"]);
    expect(heads.some((h) => /wall/i.test(h))).toBe(false); // the wall clock is apart
    for (const d of results) {
      const row = rows.get(d.strategy)!;
      expect(row.get("req/s before")).toBe(String(Math.round(d.throughput.before)));
      expect(row.get("req/s during")).toBe(String(Math.round(d.throughput.during)));
      expect(row.get("req/s after")).toBe(String(Math.round(d.throughput.after)));
      expect(row.get("req/s during / before")).toBe(d.throughput.ratio.toFixed(2));
      expect(row.get("latency before p50 / p99 / max (ms)")).toBe(lat(d.latency.before));
      expect(row.get("latency during p50 / p99 / max (ms)")).toBe(lat(d.latency.during));
      expect(row.get("latency after p50 / p99 / max (ms)")).toBe(lat(d.latency.after));
      expect(row.get("H-G ms mean (min..max)")).toBe(`${d.duration.mean.toFixed(1)} (${r1(d.duration.min)}..${r1(d.duration.max)})`);
      expect(row.get("bound (ms)")).toBe(r1(d.duration.bound));
      expect(row.get("H-G / bound")).toBe(`${d.duration.ratioToBound.toFixed(2)}x`);
      expect(row.get("blocked ms per node mean / worst")).toBe(`${r1(d.blocked.meanPerNode)} / ${r1(d.blocked.maxPerNode)}`);
      expect(row.get("control msgs")).toBe(r1(d.controlMessages));
      expect(row.get("held")).toBe(r1(d.heldMessages));
      expect(row.get("transformed")).toBe(r1(d.transformedMessages));
      expect(row.get("rolled back")).toBe(r1(d.rolledBackEvents));
      expect(row.get("null reads")).toBe(String(d.nullReads));
      expect(row.get("violations")).toBe(String(d.violations));
    }
    // what the runs are known to show
    expect(Number(rows.get("naive")!.get("violations"))).toBeGreaterThan(0);
    expect(rows.get("conservative")!.get("violations")).toBe("0");
    expect(Number(rows.get("conservative")!.get("held"))).toBeGreaterThan(0);
  });

  it("keeps the wall clock in its own table", () => {
    const md = disruptionTable(results);
    const { heads, rows } = markdownTable(md, "Wall clock");
    expect(heads).toEqual(["strategy", "runs", "wall ms per run"]);
    for (const d of results) {
      const wall = rows.get(d.strategy)!.get("wall ms per run")!;
      expect(Math.abs(Number(wall) - d.wallMsPerRun)).toBeLessThanOrEqual(0.5);
    }
  });
});

describe("disruptionMarkdown", () => {
  it("says what was run and sums up each strategy from its figures", () => {
    const md = disruptionMarkdown(results, meta);
    expect(md.startsWith("# Update disruption\n")).toBe(true);
    expect(md).toContain("3 nodes × 5 entries; seeds 1 (1 run per strategy)");
    expect(md).toContain("2025-06-01 (caller's string)");
    for (const d of results) {
      const para = md.split("\n").find((l) => l.startsWith(`**${d.strategy}**: `))!;
      expect(para).toBeDefined();
      expect(para).toContain(`throughput during the update ${d.throughput.ratio.toFixed(2)} of before`);
      expect(para).toContain(`the update took ${d.duration.mean.toFixed(1)} ms`);
      expect(para).toContain(`${d.duration.ratioToBound.toFixed(2)}x the lower bound of ${r1(d.duration.bound)} ms`);
      expect(para).toContain(d.blocked.maxPerNode > 0 ? `nodes stood blocked ${r1(d.blocked.meanPerNode)} ms on average` : "no node stood blocked");
      expect(para).toContain(d.violations > 0 ? `${d.violations} violations` : "no null reads, no violations");
    }
    expect(md).not.toContain("Rollback extras"); // no rollback strategy in this run
    expect(md).not.toMatch(/NaN|Infinity|undefined/);
  });

  it("adds the rollback extras when a strategy kept rollback metadata", () => {
    const base = results[2]!;
    const rb: StrategyDisruption = {
      ...base,
      strategy: "rollback",
      rolledBackEvents: 351.3333,
      rollback: { metadataBytesPerMessage: 133.911, peakCheckpoints: 105, replayedEvents: 128.666, orphansDropped: 285 },
    };
    const md = disruptionMarkdown([...results, rb], meta);
    expect(md).toContain("## Rollback extras");
    expect(md).toContain("- **rollback**: 133.9 bytes of metadata");
    expect(md).toContain("at most 105 checkpoints at one node");
    expect(md).toContain("351.3 events rolled back, 128.7 replayed, 285 orphans dropped");
  });

  it("shows a dash, never NaN or Infinity, when no update finished", () => {
    const failed: StrategyDisruption = {
      ...results[1]!,
      duration: { mean: 0, min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY, bound: 11, ratioToBound: 0, nominalBound: 11, channelDelay: 5.5 },
      failedUpdates: 1,
      timeline: { ...results[1]!.timeline, g: Number.NaN, h: Number.NaN },
    };
    const md = disruptionMarkdown([failed], meta);
    const html = disruptionHtml([failed], meta);
    expect(md).toContain("no update finished");
    expect(md).toContain("1 of 1 updates failed");
    for (const s of [md, html]) expect(s).not.toMatch(/NaN|Infinity/);
    expect(html).toContain("update failed: no G, no H");
    expect(html).not.toContain('class="marker g" data-t');
  });
});

describe("disruptionHtml", () => {
  it("is one self-contained page with the table", () => {
    const html = disruptionHtml(results, meta);
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).not.toMatch(/<script|<link|<img|\bsrc=|\bhref=|url\(|@import/i);
    for (const d of results) {
      const row = html.match(new RegExp(`<tr data-strategy="${d.strategy}">([\\s\\S]*?)</tr>`))![1]!;
      const tds = [...row.matchAll(/<td[^>]*>([^<]*)<\/td>/g)].map((m) => m[1]);
      expect(tds[0]).toBe(d.strategy);
      expect(tds).toContain(d.throughput.ratio.toFixed(2));
      expect(tds).toContain(`${d.duration.ratioToBound.toFixed(2)}x`);
      expect(tds).toContain(lat(d.latency.during));
    }
    expect(disruptionHtml(results, meta)).toBe(html); // no clock, no randomness
  });

  it("draws two charts per strategy, with G and H marked, on shared scales", () => {
    const html = disruptionHtml(results, meta);
    const charts = svgs(html);
    expect(charts).toHaveLength(2 * results.length);
    for (const d of results) {
      for (const kind of ["throughput", "latency"]) {
        const svg = charts.find((s) => s.includes(`data-strategy="${d.strategy}" data-chart="${kind}"`))!;
        expect(svg).toBeDefined();
        expect(svg).toContain(`<line class="marker g" data-t="${d.timeline.g}"`);
        expect(svg).toContain(`<line class="marker h" data-t="${d.timeline.h}"`);
        expect(svg).toContain(`>G ${d.timeline.g}</text>`);
        expect(svg).toContain(`>H ${d.timeline.h}</text>`);
        expect(svg).toContain("virtual time (ms)");
        expect(svg).toMatch(/<path class="series" d="M/);
      }
    }
    // the same y ticks (and x ticks) on every chart of a kind
    const ticks = (svg: string): string => [...svg.matchAll(/<text class="tick"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]).join(",");
    for (const kind of ["throughput", "latency"]) {
      const all = charts.filter((s) => s.includes(`data-chart="${kind}"`)).map(ticks);
      expect(new Set(all).size).toBe(1);
    }
    const maxThroughput = Math.max(...results.flatMap((d) => d.timeline.points.map((p) => p.throughput)));
    const yTicks = [...charts[0]!.matchAll(/<text class="tick"[^>]*text-anchor="end">([^<]*)<\/text>/g)].map((m) => Number(m[1]));
    expect(Math.max(...yTicks)).toBeGreaterThanOrEqual(maxThroughput);
  });

  it("escapes all text, in HTML and in markdown", () => {
    const evilName = `<b>"evil" | 'x' & y</b>`;
    const evil = results.map((d, i) => (i === 0 ? { ...d, strategy: evilName as Strategy } : d));
    const evilMeta: ReportMeta = { ...meta, title: `<script>alert("t")</script>`, date: `<img src=x onerror=alert(1)> & [link](javascript:x)` };
    const html = disruptionHtml(evil, evilMeta);
    expect(html).not.toContain("<script");
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<b>");
    expect(html).toContain("&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;");
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt; &amp; [link](javascript:x)");
    expect(html).toContain(`data-strategy="&lt;b&gt;&quot;evil&quot; | &#39;x&#39; &amp; y&lt;/b&gt;"`);
    // nothing but the page's own elements
    const tags = new Set([...html.matchAll(/<([a-zA-Z][a-zA-Z0-9]*)/g)].map((m) => m[1]!.toLowerCase()));
    const allowed = "html head meta title style body h1 h2 h3 p div table thead tbody tr th td section figure figcaption svg line rect text path circle strong ul li".split(" ");
    for (const t of tags) expect(allowed).toContain(t);
    // no stray ampersand: every & starts an entity
    expect(html.replace(/<style>[\s\S]*?<\/style>/, "")).not.toMatch(/&(?!(amp|lt|gt|quot|#39);)/);

    const md = disruptionMarkdown(evil, evilMeta);
    expect(md).not.toMatch(/(?<!\\)[<>]/); // no raw angle bracket anywhere
    expect(md).toContain("\\<b\\>\"evil\" \\| 'x' \\& y\\</b\\>");
    expect(md).toContain("\\[link\\](javascript:x)");
    expect(md.split("\n")[0]).toBe('# \\<script\\>alert("t")\\</script\\>');
    const { rows } = markdownTable(disruptionTable(evil), "Virtual time");
    expect(rows.size).toBe(3); // the escaped pipe did not split the row
  });
});

describe("helpers", () => {
  it("round ticks cover the maximum", () => {
    expect(niceTicks(5300)).toEqual([0, 2000, 4000, 6000]);
    expect(niceTicks(590, 8)).toEqual([0, 100, 200, 300, 400, 500, 600]);
    expect(niceTicks(0)).toEqual([0, 1]);
    expect(niceTicks(128)).toEqual([0, 50, 100, 150]);
  });
  it("seed lists compress runs", () => {
    expect(seedList([1, 2, 3, 4])).toBe("1..4");
    expect(seedList([1, 2, 5, 7, 8, 9])).toBe("1, 2, 5, 7..9");
    expect(seedList([1])).toBe("1");
  });
});
