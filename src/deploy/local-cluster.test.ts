import net from "node:net";
import { describe, expect, it } from "vitest";
import { reservePort } from "./local-cluster.js";

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
