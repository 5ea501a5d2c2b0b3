import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDbCluster, type TestCluster } from "../../test/support/db-cluster.js";
import { dbLoad } from "../../test/support/db-load.js";
import { dbPackagePaths, packDbPackages } from "../../test/support/db-packages.js";
import { ClusterClient } from "../deploy/cluster-client.js";
import type { StartedNode } from "../deploy/cluster-processes.js";
import { UpdateHaltedError } from "../core/errors.js";
import { ClusterSource } from "./cluster-source.js";
import { startConsole, type ConsoleServer } from "./console-server.js";
import { SimSource } from "./sim-source.js";

/** The page's document, as the functions run in the browser see it (this project compiles without the DOM's types). */
declare const document: { querySelector(selector: string): { getAttribute(name: string): string | null; readonly textContent: string | null } | null };

/** Debian's chromium (.ci/run installs it); LIVESWAP_CHROMIUM names another binary. */
const CHROMIUM = process.env.LIVESWAP_CHROMIUM ?? "/usr/bin/chromium";
const skipBrowser = process.env.LIVESWAP_SKIP_BROWSER === "1";
/**
 * Where the screenshots go: a temporary directory, or LIVESWAP_SCREENSHOTS (the README's are made with
 * `LIVESWAP_SCREENSHOTS=docs npx vitest run src/console/console.e2e.test.ts`).
 */
const SHOTS = resolve(process.env.LIVESWAP_SCREENSHOTS ?? join(tmpdir(), "liveswap-console-shots"));
const TOKEN = "console-test-token-0123456789abcdef";
const IDS = ["r0", "r1", "r2"];
const packages = dbPackagePaths();

let browser: Browser | undefined;

beforeAll(async () => {
  if (skipBrowser) return;
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the browser test needs it (apt-get install chromium; .ci/run installs it). Set LIVESWAP_SKIP_BROWSER=1 to skip this test.`);
  await packDbPackages(packages, IDS, ["up", "flaky"]);
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
}, 120_000);
afterAll(async () => {
  await browser?.close();
});

/** The status of a GET over HTTPS (the cluster's CA trusted), with a client certificate if given. */
function httpsStatus(url: string, ca: string, client?: { readonly cert: string; readonly key: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: readFileSync(ca), checkServerIdentity: () => undefined, ...(client !== undefined ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}) }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

/** The page of `server`, opened with its token URL (which moves the token into a cookie). */
async function open(server: ConsoleServer): Promise<Page> {
  const page = await (browser as Browser).newPage({ viewport: { width: 1300, height: 1100 }, ignoreHTTPSErrors: true });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => void (m.type() === "error" && errors.push(m.text())));
  await page.goto(server.openUrl);
  expect(page.url()).not.toContain("token="); // the token left the address bar
  (page as Page & { errors?: string[] }).errors = errors;
  return page;
}

/** Until every node of the page shows `attr` = value (the page refreshes twice a second). */
async function allShow(page: Page, attr: string, value: string, ids: readonly string[], ms = 60_000): Promise<void> {
  await page.waitForFunction(
    ({ attr, value, ids }) => ids.every((id) => document.querySelector(`[data-node="${id}"]`)?.getAttribute(attr) === value),
    { attr, value, ids },
    { timeout: ms, polling: 100 },
  );
}

describe.skipIf(skipBrowser)("the operator's console in a real browser (headless Chromium)", () => {
  it("a 3-node cluster: the page shows every node at db@1, an update moves each to db@2 on screen, a killed node shows as down; no token, no page", async () => {
    const cluster: TestCluster = await startDbCluster({ nodes: 3, keys: packages.keys, store: true, traceFiles: true });
    const client = new ClusterClient(cluster.cluster, { retry: { attempts: 100, backoffMs: 20, maxBackoffMs: 200 }, requestTimeoutMs: 30_000 });
    const t = cluster.cluster.tls as { ca: string; control: { cert: string; key: string } };
    const server = await startConsole(new ClusterSource(cluster.cluster, { diagramEveryMs: 500 }), {
      access: { token: TOKEN, tls: { key: readFileSync(t.control.key, "utf8"), cert: readFileSync(t.control.cert, "utf8"), ca: readFileSync(t.ca, "utf8") } },
      refreshMs: 300,
    });
    try {
      // No token: 401. A node's certificate (signed by the same CA) is not the control certificate: 401. The control one: in.
      const keys = packages.keys;
      expect(await httpsStatus(`${server.url}/api/state`, t.ca)).toBe(401);
      expect(await httpsStatus(`${server.url}/api/state`, t.ca, { cert: join(keys, "r0.crt"), key: join(keys, "r0.key") })).toBe(401);
      expect(await httpsStatus(`${server.url}/api/state`, t.ca, { cert: t.control.cert, key: t.control.key })).toBe(200);
      const page = await open(server);
      await allShow(page, "data-version", "db@1", IDS);
      await allShow(page, "data-health", "up", IDS);
      const load = dbLoad(client, 3, 5, 10);
      await page.locator("#watch").click();
      await client.update(readFileSync(packages.up, "utf8"), { strategy: "conservative", root: "r2" });
      await allShow(page, "data-version", "db@2", IDS);
      await page.waitForFunction(() => document.querySelector("#update-phase")?.getAttribute("data-phase") === "completed", undefined, { timeout: 30_000 });
      expect(await page.locator("#log").textContent()).toMatch(/update #\d+: (running|completed)/);
      // The diagram (drawn again every half second here) shows the new version's lanes.
      await page.waitForFunction(() => /db@2/.test(document.querySelector("#diagram")?.textContent ?? ""), undefined, { timeout: 30_000 });
      expect(await page.locator("#rates").textContent()).toMatch(/^[1-9]\d* messages\/s, [1-9]\d* requests\/s$/);
      mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: join(SHOTS, "console-cluster.png"), fullPage: true });
      await load.stop();
      (cluster.nodes.find((n) => n.id === "r1") as StartedNode).child.kill("SIGKILL");
      await allShow(page, "data-health", "down", ["r1"], 30_000);
      expect(await page.locator('[data-row="r1"] .health-down').count()).toBe(1);
      expect(await page.locator('[data-link="r0-r1"]').getAttribute("data-state")).toBe("down");
      await page.screenshot({ path: join(SHOTS, "console-node-down.png"), fullPage: true });
      expect((page as Page & { errors?: string[] }).errors, "errors in the page").toEqual([]);
    } finally {
      client.close();
      await server.close();
      await cluster.stop();
    }
  }, 240_000);

  it("a halted update: the resume button takes a package (confirmed) and the update completes on screen", async () => {
    const cluster: TestCluster = await startDbCluster({ nodes: 3, keys: packages.keys, store: true });
    const client = new ClusterClient(cluster.cluster, { requestTimeoutMs: 30_000 });
    const server = await startConsole(new ClusterSource(cluster.cluster), { access: { token: TOKEN }, refreshMs: 300 });
    try {
      const halted = await client.update(readFileSync(packages.flaky, "utf8"), { strategy: "cut", root: "r2" }).catch((e: unknown) => e);
      expect(halted).toBeInstanceOf(UpdateHaltedError);
      const page = await open(server);
      await page.waitForFunction(() => document.querySelector("#update-phase")?.getAttribute("data-phase") === "halted", undefined, { timeout: 30_000 });
      expect(await page.locator("#resume").isDisabled()).toBe(false);
      expect(await page.locator("#abort").isDisabled()).toBe(true); // a halted update cannot be aborted
      const dialogs: string[] = [];
      page.on("dialog", (d) => {
        dialogs.push(d.message());
        void d.accept();
      });
      await page.locator("#package").setInputFiles(packages.up);
      await allShow(page, "data-version", "db@2", IDS);
      await page.waitForFunction(() => document.querySelector("#update-phase")?.getAttribute("data-phase") === "completed", undefined, { timeout: 30_000 });
      expect(dialogs).toEqual([expect.stringMatching(/^Resume update #\d+ with up\.lspkg\? The halted nodes take its transfer\.$/)]);
      await page.waitForFunction(() => /resumed and completed/.test(document.querySelector("#message")?.textContent ?? ""), undefined, { timeout: 30_000 });
    } finally {
      client.close();
      await server.close();
      await cluster.stop();
    }
  }, 240_000);

  it("demo --serve's page: the paper's experiment played at a chosen speed, every node turning new on screen", async () => {
    let now = 0;
    const source = await SimSource.start({ strategy: "cut", seed: 1, nodes: 5, speed: 100, now: () => now });
    const server = await startConsole(source, { access: { token: TOKEN }, refreshMs: 200 });
    try {
      const page = await open(server);
      const ids = ["r0", "r1", "r2", "r3", "r4"];
      await allShow(page, "data-version", "db@1", ids);
      // Half way in virtual time the update runs; at the end every node is new.
      now = (source.totalMs * 1000) / 100;
      await allShow(page, "data-version", "db@2", ids);
      expect(await page.locator("#source").textContent()).toBe("simulated run");
      expect(await page.locator("#playback").textContent()).toMatch(/^played \d+ of \d+ virtual ms \(100 ms a second\)$/);
      expect(await page.locator("#diagram svg").count()).toBe(1);
      await page.screenshot({ path: join(SHOTS, "console-demo.png"), fullPage: true });
      expect((page as Page & { errors?: string[] }).errors, "errors in the page").toEqual([]);
    } finally {
      await server.close();
    }
  }, 120_000);
});
