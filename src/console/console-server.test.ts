import { describe, expect, it } from "vitest";
import type { ConsoleSource, ConsoleState } from "./console-state.js";
import { startConsole } from "./console-server.js";

const TOKEN = "server-test-token-0123456789abcdef";

/** A source that counts what it is asked. */
function fakeSource(): ConsoleSource & { states: number; aborts: number; idles: number } {
  const state: ConsoleState = { source: "cluster", title: "t", at: 0, nodes: [], links: [], update: null, messagesPerSec: 0, requestsPerSec: 0, diagram: "<svg></svg>", actions: { abort: true, resume: false } };
  const f = {
    states: 0,
    aborts: 0,
    idles: 0,
    state: async () => (f.states++, state),
    abort: async () => (f.aborts++, "abort asked"),
    resume: async () => "resumed",
    idle: () => void f.idles++,
    close: async () => undefined,
  };
  return f;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("the console's server", () => {
  it("lets nobody in without the token; the token URL sets a cookie of its own and sends the page to /", async () => {
    const source = fakeSource();
    const server = await startConsole(source, { access: { token: TOKEN }, refreshMs: 50 });
    try {
      expect((await fetch(`${server.url}/`)).status).toBe(401);
      expect((await fetch(`${server.url}/api/state`)).status).toBe(401);
      expect(await (await fetch(`${server.url}/`)).text()).toMatch(/open the URL the command printed/);
      const open = await fetch(server.openUrl, { redirect: "manual" });
      expect(open.status).toBe(303);
      const cookie = open.headers.get("set-cookie") ?? "";
      expect(cookie).toMatch(/^liveswap_token_[0-9a-f]{12}=.+; HttpOnly; SameSite=Strict; Path=\//);
      const page = await fetch(`${server.url}/`, { headers: { cookie: cookie.split(";")[0] as string } });
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<title>liveswap console<\/title>/);
      expect(source.states).toBe(0); // nothing asked of the cluster to serve the page
    } finally {
      await server.close();
    }
  });

  it("an action needs the page's header (a form or a link elsewhere cannot send it); with it, the source is asked", async () => {
    const source = fakeSource();
    const server = await startConsole(source, { access: { token: TOKEN }, refreshMs: 50 });
    const auth = { authorization: `Bearer ${TOKEN}` };
    try {
      const forged = await fetch(`${server.url}/api/abort`, { method: "POST", headers: auth });
      expect(forged.status).toBe(403);
      expect(source.aborts).toBe(0);
      const real = await fetch(`${server.url}/api/abort`, { method: "POST", headers: { ...auth, "x-liveswap-console": "1" } });
      expect(await real.json()).toEqual({ ok: true, message: "abort asked" });
      expect(source.aborts).toBe(1);
    } finally {
      await server.close();
    }
  });

  it("asks its source only while a page listens to the stream, and sends the diagram only when it changed", async () => {
    const source = fakeSource();
    const server = await startConsole(source, { access: { token: TOKEN }, refreshMs: 50 });
    try {
      await pause(200);
      expect(source.states).toBe(0);
      const stop = new AbortController();
      const res = await fetch(`${server.url}/api/events`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: stop.signal });
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      let text = "";
      while ((text.match(/^data: /gm) ?? []).length < 3) text += new TextDecoder().decode((await reader.read()).value);
      const states = text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)) as { diagram?: string });
      expect(states[0]?.diagram).toBe("<svg></svg>");
      expect(states[1]?.diagram).toBeUndefined();
      stop.abort();
      await pause(200);
      const after = source.states;
      await pause(300);
      expect(source.states).toBe(after); // the loop stopped with its last listener
    } finally {
      await server.close();
    }
  });
});
