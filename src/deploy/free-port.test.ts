import net from "node:net";
import { describe, expect, it } from "vitest";
import { ephemeralStart, freePort, reservePort } from "./free-port.js";

const listenOn = (port: number): Promise<NodeJS.ErrnoException | undefined> =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", (e: NodeJS.ErrnoException) => resolve(e));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(undefined)));
  });

describe("reservePort", () => {
  it("holds the port until released: nothing else can listen there meanwhile, and it is free after", async () => {
    const r = await reservePort();
    expect((await listenOn(r.port))?.code).toBe("EADDRINUSE");
    await r.release();
    expect(await listenOn(r.port)).toBeUndefined();
  });
});

describe("freePort", () => {
  it("draws below the ephemeral range (where outbound connections never land) and never hands a port out twice", async () => {
    const ports = [];
    for (let i = 0; i < 50; i++) ports.push(await freePort());
    expect(ports.every((p) => p >= 1024 && p < ephemeralStart())).toBe(true);
    expect(new Set(ports).size).toBe(ports.length);
    // Each is free to bind right after.
    for (const p of ports.slice(0, 5)) expect(await listenOn(p)).toBeUndefined();
  });
});
