// The HTTP example end to end: a local cluster of two kv nodes (processes), the service in this process, a write
// (sent twice under one Idempotency-Key), reads, and everything stopped again.
import { rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectCluster, startLocalCluster, type ClusterConnection, type LocalCluster } from "liveswap/cluster";
import { createKvServer } from "./server.js";

let cluster: LocalCluster | undefined;
let client: ClusterConnection | undefined;
let server: Server | undefined;
let base = "";

beforeAll(async () => {
  const pkg = join(import.meta.dirname, "kv.ts");
  cluster = await startLocalCluster({ nodes: ["kv0", "kv1"].map((id) => ({ id, package: pkg, behavior: "kv-v1" })), links: [["kv0", "kv1"]] });
  client = await connectCluster({ cluster: cluster.cluster.file });
  const s = createKvServer(client, { node: "kv0" });
  server = s;
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  base = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  const s = server;
  if (s !== undefined) await new Promise((r) => s.close(r));
  client?.close();
  await cluster?.stop();
  if (cluster !== undefined) rmSync(cluster.dir, { recursive: true, force: true });
});

const post = (key: string, value: string, idempotencyKey?: string): Promise<Response> =>
  fetch(`${base}/kv/${key}`, { method: "POST", body: value, headers: idempotencyKey !== undefined ? { "idempotency-key": idempotencyKey } : {}, signal: AbortSignal.timeout(20_000) });
const get = (key: string): Promise<Response> => fetch(`${base}/kv/${key}`, { signal: AbortSignal.timeout(20_000) });

describe("examples/kv-http: an HTTP service in front of a cluster (liveswap/cluster)", () => {
  it("writes through a node once per Idempotency-Key, and reads the value back", async () => {
    const first = await post("greeting", "hello", "key-1");
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ key: "greeting", value: "hello", version: 1, origin: "kv0" });
    // The client's retry (same key and body): the recorded answer, not a second write.
    const again = await post("greeting", "hello", "key-1");
    expect(await again.json()).toEqual({ key: "greeting", value: "hello", version: 1, origin: "kv0" });
    const read = await get("greeting");
    expect(read.status).toBe(200);
    expect(await read.json()).toEqual({ key: "greeting", value: "hello", version: 1, origin: "kv0" });
    // The same Idempotency-Key for another write is refused; a write without one is a new write.
    const reused = await post("greeting", "bye", "key-1");
    expect(reused.status).toBe(422);
    expect(((await reused.json()) as { error: string }).error).toMatch(/this id was already used with a different body/);
    expect(await (await post("greeting", "hi")).json()).toMatchObject({ value: "hi", version: 2 });
    expect((await get("nothing")).status).toBe(404);
    // The write went on to the other replica.
    const replica = async (): Promise<{ version?: number } | null | undefined> => client?.request("kv1", { kind: "get", key: "greeting" });
    let other = await replica();
    for (let i = 0; i < 100 && other?.version !== 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      other = await replica();
    }
    expect(other).toEqual({ key: "greeting", value: "hi", version: 2, origin: "kv0" });
  }, 60_000);
});
