import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { natsServerForTests } from "../../../test/support/nats-server.js";
import { keysInit } from "../../deploy/keys.js";
import { dial, listenOn, peerName } from "../tcp/sockets.js";
import { openNats } from "./nats-connection.js";
import { NatsSockets } from "./nats-sockets.js";

const nats = natsServerForTests();
const missing = nats.missing;
let clusters = 0;


/** The hubs a test opened: closed after it, whatever it did. */
const opened: NatsSockets[] = [];
afterEach(async () => {
  for (const h of opened.splice(0)) {
    if (h.nc.isClosed()) continue; // closed by the test itself (a process that died)
    h.close();
    await h.nc.close();
  }
});

async function hub(cluster: string, name: string): Promise<NatsSockets> {
  const h = new NatsSockets(await openNats({ servers: [nats.server().url], name }), cluster);
  opened.push(h);
  return h;
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A connection whose reading end does not read (paused) until the test resumes it: the writer, and the reader once accepted. */
async function pausedReader(): Promise<{ readonly w: Duplex; readonly reader: Promise<Duplex> }> {
  const cluster = `s${++clusters}`;
  const a = await hub(cluster, "a");
  const b = await hub(cluster, "b");
  let accepted: (s: Duplex) => void = () => undefined;
  const reader = new Promise<Duplex>((resolve) => (accepted = resolve));
  await b.serve("nats:b", (s) => {
    s.on("error", () => undefined);
    s.pause();
    accepted(s);
  });
  const w = await a.connect("nats:b", 2_000);
  w.on("error", () => undefined);
  return { w, reader };
}

/** What a socket reads, as text, and whether it closed (and why). */
function reader(s: Duplex): { text: () => string; closed: () => boolean; error: () => string | undefined } {
  const chunks: Buffer[] = [];
  let closed = false;
  let error: string | undefined;
  s.on("data", (c: Buffer) => chunks.push(c));
  s.on("error", (e) => (error = e.message));
  s.on("close", () => (closed = true));
  return { text: () => Buffer.concat(chunks).toString(), closed: () => closed, error: () => error };
}

describe.skipIf(missing !== undefined)(`connections over NATS${missing !== undefined ? ` (skipped: ${missing})` : ""}`, () => {
  it("carries bytes both ways in order, large writes included, and closes both ends", async () => {
    const cluster = `s${++clusters}`;
    const a = await hub(cluster, "a");
    const b = await hub(cluster, "b");
    const accepted: Duplex[] = [];
    const l = await b.serve("nats:b", (s) => {
      accepted.push(s);
      s.on("error", () => undefined);
      s.on("data", (c: Buffer) => s.write(c)); // echo
    });
    const s = await a.connect("nats:b", 2_000);
    const r = reader(s);
    const big = "x".repeat(3 * 1024 * 1024);
    let sent = "";
    for (let i = 0; i < 200; i++) {
      const piece = i === 100 ? big : `line ${i}\n`;
      sent += piece;
      s.write(piece);
    }
    await until("the echo", () => r.text().length === sent.length);
    expect(r.text()).toBe(sent);
    s.end();
    await until("both ends closed", () => r.closed() && accepted.every((x) => x.destroyed));
    await l.close();
  }, 30_000);

  it("a reader that does not read holds the writer back (credit), instead of NATS cutting it off as a slow consumer", async () => {
    const { w, reader } = await pausedReader();
    const piece = Buffer.alloc(256 * 1024, 7);
    for (let i = 0; i < 64; i++) w.write(piece); // 16 MiB
    await new Promise((r) => setTimeout(r, 1_000));
    // At most the window (and a piece) left the writer; the rest waits in its buffer.
    expect(w.writableLength).toBeGreaterThan(16 * 1024 * 1024 - 3 * 1024 * 1024);
    const r = await reader;
    let got = 0;
    r.on("data", (c: Buffer) => void (got += c.length));
    r.resume();
    await until("16 MiB read", () => got === 64 * piece.length, 20_000);
    expect(w.destroyed).toBe(false);
    w.destroy();
  }, 40_000);

  it("credit still flows after the reader ended its own writes (a half-close), so the writer's last bytes arrive", async () => {
    const { w, reader } = await pausedReader();
    w.write(Buffer.alloc(3 * 1024 * 1024, 1)); // past the window: the writer waits for credit
    await new Promise((r) => setTimeout(r, 300));
    const r = await reader;
    let got = 0;
    r.on("data", (c: Buffer) => void (got += c.length));
    r.end(); // its own writes end; it reads on
    r.resume();
    await until("3 MiB read", () => got === 3 * 1024 * 1024, 10_000);
    w.destroy();
  }, 30_000);

  it("no NATS server where the cluster file says: an error that names the servers and the fix", async () => {
    const { freePort } = await import("../../deploy/free-port.js");
    const url = `nats://127.0.0.1:${await freePort()}`;
    await expect(openNats({ servers: [url], name: "t" })).rejects.toThrow(new RegExp(`cannot connect to NATS at ${url}: nothing listens there; start nats-server`));
  });

  it("a dial where nothing listens is refused at once (ECONNREFUSED), as over TCP", async () => {
    const a = await hub(`s${++clusters}`, "a");
    const t0 = Date.now();
    await expect(a.connect("nats:nobody", 5_000)).rejects.toMatchObject({ code: "ECONNREFUSED", message: expect.stringContaining('no process listens for node "nobody" on NATS') });
    expect(Date.now() - t0).toBeLessThan(4_000);
    await expect(a.connect("10.0.0.1:7401", 1_000)).rejects.toThrow(/not a NATS address; write nats:<node id>/);
  });

  it("a listener that starts again breaks the connections to its earlier life, and a restart of the server breaks every connection", async () => {
    const cluster = `s${++clusters}`;
    const a = await hub(cluster, "a");
    let b = await hub(cluster, "b");
    await b.serve("nats:b", (s) => void s.on("error", () => undefined));
    const r1 = reader(await a.connect("nats:b", 2_000));
    // b's process dies without a word (kill -9) and a new one listens: a hears of it and breaks what it had.
    b.close();
    await b.nc.close();
    b = await hub(cluster, "b");
    await b.serve("nats:b", (s) => void s.on("error", () => undefined));
    await until("the stale connection broken", () => r1.closed());
    expect(r1.error()).toMatch(/"b" started again/);
    const r2 = reader(await a.connect("nats:b", 2_000));
    await nats.server().stop();
    await until("the connection broken by the server's restart", () => r2.closed());
    await nats.server().start();
    // Both reconnect on their own; a dial then works again.
    const end = Date.now() + 15_000;
    let s: Duplex | undefined;
    while (s === undefined && Date.now() < end) s = await a.connect("nats:b", 1_000).catch(() => undefined);
    expect(s).toBeDefined();
    s?.destroy();
  }, 40_000);

  it("a dial waiting for its answer when the connection to NATS drops is given up at once, not at its timeout", async () => {
    const cluster = `s${++clusters}`;
    const a = await hub(cluster, "a");
    // A listener that takes the dial and never answers (a process stalled): the dial waits.
    const silent = await openNats({ servers: [nats.server().url], name: "silent" });
    silent.subscribe(`liveswap.${cluster}.open.x`, { callback: () => undefined });
    await silent.flush();
    try {
      const t0 = Date.now();
      const dial = a.connect("nats:x", 60_000);
      dial.catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
      await nats.server().stop();
      await expect(dial).rejects.toMatchObject({ code: "ECONNRESET", message: expect.stringMatching(/connection reset while dialling: this process lost its connection to NATS/) });
      expect(Date.now() - t0).toBeLessThan(30_000);
    } finally {
      await nats.server().start();
      await silent.close();
    }
  }, 60_000);

  it("two processes of one node: the second is refused at its start, and one that hears another listening under its name is told", async () => {
    const cluster = `s${++clusters}`;
    const b1 = await hub(cluster, "b1");
    const b2 = await hub(cluster, "b2");
    const told: string[] = [];
    b1.onConflict((name) => told.push(name));
    await b1.serve("nats:b", (s) => void s.on("error", () => undefined));
    await expect(b2.serve("nats:b", () => undefined)).rejects.toThrow(/another process already listens for node "b" on NATS \(cluster "s\d+"\); stop it first/);
    expect(told).toEqual([]); // its own announcement is no conflict
    // A process back from a partition announces itself under b (it listened before b1 started): b1 is told.
    b2.nc.publish(`liveswap.${cluster}.up.b`, new TextEncoder().encode("another-life"));
    await until("the conflict told", () => told.length > 0);
    expect(told).toEqual(["b"]);
  });

  it("mutual TLS over NATS: each end shows a certificate of the cluster's CA naming it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "liveswap-nats-tls-"));
    const cluster = `s${++clusters}`;
    const a = await hub(cluster, "a");
    const b = await hub(cluster, "b");
    try {
      keysInit(dir, ["a", "b"]);
      const m = (n: string): { ca: string; cert: string; key: string } => ({ ca: readFileSync(join(dir, "ca.crt"), "utf8"), cert: readFileSync(join(dir, `${n}.crt`), "utf8"), key: readFileSync(join(dir, `${n}.key`), "utf8") });
      const names: (string | undefined)[] = [];
      const l = await listenOn("nats:b", m("b"), (s) => {
        names.push(peerName(s));
        s.on("error", () => undefined);
        s.on("data", (c: Buffer) => s.write(c));
      }, b);
      const s = await dial("nats:b", m("a"), "b", 5_000, a);
      expect(peerName(s)).toBe("b");
      const r = reader(s);
      s.write("over tls");
      await until("the echo", () => r.text() === "over tls");
      expect(names).toEqual(["a"]);
      // A dialler expecting another name refuses b's certificate.
      await expect(dial("nats:b", m("a"), "c", 5_000, a)).rejects.toThrow(/showed a certificate for "b", expected "c"/);
      s.destroy();
      await l.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
