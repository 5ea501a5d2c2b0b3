/**
 * The TCP benchmark's raw baseline, this process's side: frames of the nodes' messages over a bare socket dialled
 * with the same dial() as a node (plain, or TLS with a node's certificate), to the raw echo server (raw-echo-server.ts)
 * in a process of its own, one socket write per frame.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Duplex } from "node:stream";
import { nodeCommand } from "../deploy/cluster-processes.js";
import type { Codec } from "../network/tcp/codec.js";
import { encodeFrame, FrameDecoder } from "../network/tcp/frame.js";
import { dial, type TlsMaterial } from "../network/tcp/sockets.js";
import { dataMessage } from "./raw-codec.js";

const here = import.meta.dirname;

/** The certificate files of the raw server (node b's) and of the raw client (node a's), and the cluster's CA. */
export interface RawTls {
  readonly ca: string;
  readonly server: { readonly cert: string; readonly key: string };
  readonly client: { readonly cert: string; readonly key: string };
}

export interface RawServer {
  readonly plainPort: number;
  readonly tlsPort: number | undefined;
  stop(): void;
}

export async function startRawServer(codec: string, tls: RawTls | undefined): Promise<RawServer> {
  const script = resolve(here, import.meta.url.endsWith(".ts") ? "raw-echo-server.ts" : "raw-echo-server.js");
  // The command's loader (tsx for a TypeScript script), its CLI script left out.
  const { cmd, args } = nodeCommand(script.endsWith(".ts"));
  const tlsArgs = tls === undefined ? [] : [tls.ca, tls.server.cert, tls.server.key];
  const child: ChildProcess = spawn(cmd, [...args.slice(0, -1), script, codec, ...tlsArgs], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise<string>((res, rej) => {
    child.once("exit", (code) => rej(new Error(`the raw echo server exited (${String(code)}) before listening`)));
    child.stdout?.once("data", (b: Buffer) => res(b.toString().trim()));
  });
  const ports = JSON.parse(line) as { plain: number; tls: number | null };
  return { plainPort: ports.plain, tlsPort: ports.tls ?? undefined, stop: () => child.kill("SIGTERM") };
}

export function rawMaterial(tls: RawTls): TlsMaterial {
  return { ca: readFileSync(tls.ca, "utf8"), cert: readFileSync(tls.client.cert, "utf8"), key: readFileSync(tls.client.key, "utf8") };
}

/**
 * n pings to the raw server, at most `window` out at a time (a new one leaves as a pong comes back). Returns the
 * seconds from the first write until the last pong was decoded.
 */
export async function rawRun(port: number, material: TlsMaterial | undefined, codec: Codec, n: number, window: number): Promise<number> {
  const socket: Duplex = await dial(`127.0.0.1:${port}`, material, "b");
  try {
    const decoder = new FrameDecoder();
    let sent = 0;
    let got = 0;
    const ping = (): void => {
      socket.write(encodeFrame(codec.encode(dataMessage("ping", sent, "a", "b"))));
      sent++;
    };
    const t0 = performance.now();
    await new Promise<void>((done, fail) => {
      socket.once("error", fail);
      socket.on("data", (chunk: Buffer) => {
        for (const f of decoder.push(chunk)) {
          codec.decode(f);
          if (++got === n) return done();
          if (sent < n) ping();
        }
      });
      while (sent < Math.min(n, window)) ping();
    });
    return (performance.now() - t0) / 1000;
  } finally {
    socket.destroy();
  }
}
