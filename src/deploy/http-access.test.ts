import { describe, expect, it } from "vitest";
import { checkAccess, startHttpEndpoint } from "./http-access.js";

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

  it("says so when its address is taken", async () => {
    const ep = await startHttpEndpoint("first", "127.0.0.1:0", { token: TOKEN }, (_req, res) => void res.end("ok"));
    try {
      await expect(startHttpEndpoint("second", ep.address, { token: TOKEN }, (_req, res) => void res.end("ok"))).rejects.toThrow(/second cannot listen at 127\.0\.0\.1:\d+: the address is taken; choose another port/);
    } finally {
      await ep.close();
    }
  });
});
