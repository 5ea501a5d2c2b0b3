import { describe, expect, it } from "vitest";
import { connect } from "node:net";
import { checkAccess, startHttpEndpoint } from "./http-access.js";

/** Send `request` as written (a request line fetch would not send) and give the answer's text. */
function raw(address: string, request: string): Promise<string> {
  const i = address.lastIndexOf(":");
  return new Promise((resolve, reject) => {
    const s = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)) }, () => s.write(request));
    let text = "";
    s.on("data", (d: Buffer) => void (text += d.toString()));
    s.on("end", () => resolve(text));
    s.on("error", reject);
  });
}

const TOKEN = "0123456789abcdef0123456789abcdef";

describe("an HTTP endpoint of liveswap's (metrics, console)", () => {
  it("is never open: no token and no TLS is refused, except a metrics endpoint on loopback; plain HTTP off loopback is refused; a short token is refused", () => {
    expect(() => checkAccess("the console", "127.0.0.1:0", {})).toThrow(/the console at 127\.0\.0\.1:0 would be open to anyone; give it a token or the cluster's TLS/);
    expect(() => checkAccess("metrics", "127.0.0.1:0", { openOnLoopback: true })).not.toThrow();
    expect(() => checkAccess("metrics", "0.0.0.0:9464", { openOnLoopback: true })).toThrow(/would be open to anyone; .* or listen on 127\.0\.0\.1/);
    expect(() => checkAccess("the console", "0.0.0.0:7700", { token: TOKEN })).toThrow(/not on loopback and has no TLS: a token would cross the network in clear/);
    expect(() => checkAccess("the console", "127.0.0.1:7700", { token: "short" })).toThrow(/the token is 5 characters; give one of 16 or more/);
  });

  it("answers 401 without the token, and serves with it (header, cookie or query)", async () => {
    const ep = await startHttpEndpoint("test endpoint", "127.0.0.1:0", { token: TOKEN }, (_req, res) => void res.end("ok"));
    try {
      expect((await fetch(`${ep.url}/x`)).status).toBe(401);
      expect((await fetch(`${ep.url}/x`, { headers: { authorization: "Bearer wrong-token-wrong-token" } })).status).toBe(401);
      expect(await (await fetch(`${ep.url}/x`, { headers: { authorization: `Bearer ${TOKEN}` } })).text()).toBe("ok");
      expect((await fetch(`${ep.url}/x`, { headers: { cookie: `a=b; liveswap_token=${TOKEN}` } })).status).toBe(200);
      expect((await fetch(`${ep.url}/x?token=${TOKEN}`)).status).toBe(200);
    } finally {
      await ep.close();
    }
  });

  it("survives what it cannot read (a malformed cookie, a request line of `//`), a stale cookie does not hide a good token, and an open loopback endpoint refuses another Host name (DNS rebinding)", async () => {
    const ep = await startHttpEndpoint("test endpoint", "127.0.0.1:0", { token: TOKEN }, (_req, res) => void res.end("ok"));
    const open = await startHttpEndpoint("open endpoint", "127.0.0.1:0", { openOnLoopback: true }, (_req, res) => void res.end("ok"));
    try {
      expect((await fetch(`${ep.url}/x`, { headers: { cookie: "liveswap_token=%E0%A4%A" } })).status).toBe(401);
      expect(await raw(ep.address, "GET // HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")).toMatch(/^HTTP\/1\.1 401/);
      expect((await fetch(`${ep.url}/x?token=${TOKEN}`, { headers: { cookie: "liveswap_token=an-old-consoles-token-0000" } })).status).toBe(200);
      expect((await fetch(`${ep.url}/x`)).status).toBe(401); // still serving
      expect((await fetch(`${open.url}/metrics`)).status).toBe(200);
      expect(await raw(open.address, "GET /metrics HTTP/1.1\r\nHost: attacker.example:80\r\nConnection: close\r\n\r\n")).toMatch(/^HTTP\/1\.1 401/);
    } finally {
      await ep.close();
      await open.close();
    }
  });

  it("says so when its address is taken", async () => {
    const ep = await startHttpEndpoint("first", "127.0.0.1:0", { token: TOKEN }, (_req, res) => void res.end("ok"));
    try {
      await expect(startHttpEndpoint("second", ep.address, { token: TOKEN }, (_req, res) => void res.end("ok"))).rejects.toThrow(/second cannot listen at 127\.0\.0\.1:\d+: the address is taken; choose another port/);
    } finally {
      await ep.close();
    }
  });
});
