import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { natsServerForTests } from "../../test/support/nats-server.js";
import { parseCluster, type NatsTransport } from "./cluster-file.js";
import { ClusterClient } from "./cluster-client.js";
import { holdNats } from "./nats-transport.js";

/** The cluster file's NATS credentials reach the server; a wrong or missing one is said in words, naming the field. */
const nats = natsServerForTests(["--auth", "s3cret"]);
const missing = nats.missing;
const dir = mkdtempSync(join(tmpdir(), "liveswap-nats-auth-"));

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
});

describe("a control plane that cannot reach NATS", () => {
  it("says so once (not every node \"down\"), naming the servers and the fix", async () => {
    const { freePort } = await import("./free-port.js");
    const url = `nats://127.0.0.1:${await freePort()}`;
    const cluster = parseCluster(`transport: { kind: nats, servers: [${url}] }\nnodes:\n  - { id: a, package: p.ts, behavior: v1 }\n  - { id: b, package: p.ts, behavior: v1 }\nlinks: [[a, b]]\n`, join(dir, "cluster.yaml"));
    const client = new ClusterClient(cluster);
    try {
      await expect(client.statusAll()).rejects.toThrow(new RegExp(`^cannot connect to NATS at ${url}: nothing listens there; start nats-server`));
      await expect(client.request("a", { kind: "read" })).rejects.toThrow(/cannot connect to NATS at/);
    } finally {
      client.close();
    }
  });
});

describe.skipIf(missing !== undefined)(`a NATS server that wants a token${missing !== undefined ? ` (skipped: ${missing})` : ""}`, () => {
  const transport = (extra: Partial<NatsTransport>): NatsTransport => ({ kind: "nats", servers: [nats.server().url], name: "auth", ...extra });

  it("takes the token of transport.tokenFile, and refuses none, a wrong one, or an unreadable file with the fix", async () => {
    writeFileSync(join(dir, "token"), "s3cret\n");
    writeFileSync(join(dir, "wrong"), "guess\n");
    const good = holdNats(transport({ tokenFile: join(dir, "token") }), "test");
    try {
      expect(await good.listening("nats:nobody")).toBe(false); // connected: asked, and nobody answered
    } finally {
      await good.release();
    }
    for (const [extra, message] of [
      [{}, /cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+: the server refused our credentials; give the cluster file's `transport\.credentials`/],
      [{ tokenFile: join(dir, "wrong") }, /the server refused our credentials/],
      [{ tokenFile: join(dir, "absent") }, /field "transport\.tokenFile": .*absent cannot be read: .*\(paths are relative to the cluster file\)/],
    ] as const) {
      const hold = holdNats(transport(extra), "test");
      try {
        await expect(hold.listening("nats:x")).rejects.toThrow(message);
      } finally {
        await hold.release();
      }
    }
  }, 30_000);
});
