import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startLinkProxy, type LinkProxy } from "./link-proxy.js";

/** A server that echoes every byte back, and the sockets it accepted. */
async function echoServer(): Promise<{ readonly address: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Connect through the proxy; collect what comes back as text. */
async function client(address: string): Promise<{ readonly socket: net.Socket; text(): string; waitFor(n: number, ms?: number): Promise<string> }> {
  const [host, port] = address.split(":");
  const socket = net.connect({ host: host as string, port: Number(port) });
  socket.on("error", () => undefined);
  let got = "";
  socket.on("data", (d: Buffer) => void (got += d.toString()));
  await new Promise<void>((r) => socket.once("connect", () => r()));
  return {
    socket,
    text: () => got,
    async waitFor(n, ms = 10_000) {
      const end = Date.now() + ms;
      while (got.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      return got;
    },
  };
}

const toClose: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of toClose.splice(0).reverse()) await c();
});

async function setup(delay?: { minMs: number; maxMs: number }): Promise<LinkProxy> {
  const echo = await echoServer();
  toClose.push(() => echo.close());
  const proxy = await startLinkProxy(echo.address, { ...(delay ? { delay } : {}), seed: 7 });
  toClose.push(() => proxy.close());
  return proxy;
}

const lines = (from: number, n: number): string => Array.from({ length: n }, (_, i) => `<${from + i}>`).join("");

describe("the link proxy", () => {
  it("delays every chunk by 1-10 ms each way and never reorders, whatever the jitter", async () => {
    const proxy = await setup({ minMs: 1, maxMs: 10 });
    const c = await client(proxy.address);
    toClose.push(async () => void c.socket.destroy());
    const t0 = performance.now();
    let want = "";
    for (let i = 0; i < 200; i++) {
      const s = lines(i, 1);
      want += s;
      c.socket.write(s);
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    expect(await c.waitFor(want.length)).toBe(want);
    // Each byte crossed the proxy twice, each time at least 1 ms late.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(2);
    expect(proxy.forwarded).toBe(2 * want.length);
  });

  it("black-holed: nothing crosses, nothing is closed; healed: what waited arrives in order, then the rest", async () => {
    const proxy = await setup({ minMs: 0, maxMs: 3 });
    const c = await client(proxy.address);
    toClose.push(async () => void c.socket.destroy());
    c.socket.write(lines(0, 20));
    await c.waitFor(lines(0, 20).length);
    proxy.blackhole();
    c.socket.write(lines(20, 50));
    await new Promise((r) => setTimeout(r, 200));
    expect(c.text()).toBe(lines(0, 20));
    expect(c.socket.destroyed).toBe(false);
    proxy.heal();
    c.socket.write(lines(70, 10));
    expect(await c.waitFor(lines(0, 80).length)).toBe(lines(0, 80));
  });

  it("a connection made during the partition hears nothing until heal, then is forwarded; a second cut and heal work the same", async () => {
    const proxy = await setup();
    proxy.blackhole();
    const c = await client(proxy.address);
    toClose.push(async () => void c.socket.destroy());
    c.socket.write("hello");
    await new Promise((r) => setTimeout(r, 150));
    expect(c.text()).toBe("");
    proxy.heal();
    expect(await c.waitFor(5)).toBe("hello");
    proxy.blackhole();
    c.socket.write("again");
    await new Promise((r) => setTimeout(r, 150));
    expect(c.text()).toBe("hello");
    proxy.heal();
    expect(await c.waitFor(10)).toBe("helloagain");
    expect(proxy.accepted).toBe(1);
  });

  it("refuses a delay with min above max, naming both", async () => {
    const proxy = await setup();
    expect(() => proxy.setDelay({ minMs: 5, maxMs: 1 })).toThrow(/0 <= minMs <= maxMs, got 5\.\.1 ms/);
  });
});
