/**
 * The TCP benchmark's baseline peer: a bare server (plain TCP, and TLS with the cluster's certificates through the
 * same listen() as a node's) that decodes each frame and answers it with a pong frame, the same framing and codec as
 * liveswap's, one socket write per frame. argv: codec name, then for TLS the CA, certificate and key files. Prints
 * `{"plain":PORT,"tls":PORT}` once listening.
 */
import { readFileSync } from "node:fs";
import type net from "node:net";
import type { Duplex } from "node:stream";
import { encodeFrame, FrameDecoder } from "../network/tcp/frame.js";
import { listen } from "../network/tcp/sockets.js";
import { codecNamed, dataMessage } from "./raw-codec.js";

const [codecName = "json", ca, cert, key] = process.argv.slice(2);
const codec = codecNamed(codecName);

function echo(socket: Duplex): void {
  const decoder = new FrameDecoder();
  socket.on("data", (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) {
      const msg = codec.decode(f) as { env: { body: { i: number } } };
      socket.write(encodeFrame(codec.encode(dataMessage("pong", msg.env.body.i, "b", "a"))));
    }
  });
  socket.on("error", () => undefined);
}

const port = (s: net.Server): number => (s.address() as net.AddressInfo).port;
const plain = await listen("127.0.0.1:0", undefined, echo);
const tls = ca !== undefined && cert !== undefined && key !== undefined ? await listen("127.0.0.1:0", { ca: readFileSync(ca, "utf8"), cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8") }, echo) : undefined;
process.stdout.write(`${JSON.stringify({ plain: port(plain), tls: tls === undefined ? null : port(tls) })}\n`);
process.on("SIGTERM", () => process.exit(0));
