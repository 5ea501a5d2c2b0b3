/** The TCP benchmark's baseline peer: a bare `net` server that decodes each frame and sends it back re-encoded, the same framing and codec as liveswap's. */
import net from "node:net";
import { jsonCodec } from "../network/tcp/codec.js";
import { encodeFrame, FrameDecoder } from "../network/tcp/frame.js";

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  const decoder = new FrameDecoder();
  socket.on("data", (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) {
      const msg = jsonCodec.decode(f) as { env: { body: { k: string; i: number } } };
      const reply = { ...msg, env: { ...msg.env, body: { k: "pong", i: msg.env.body.i } } };
      socket.write(encodeFrame(jsonCodec.encode(reply)));
    }
  });
  socket.on("error", () => undefined);
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
