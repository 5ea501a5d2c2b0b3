/**
 * Which codec a link speaks. MessagePack by default (msgpack-codec.ts: faster and smaller); JSON when a reader of
 * the wire matters more (a capture read by eye, another runtime). The cluster file's `codec:` chooses it for every
 * node and every control plane of the cluster (connectCluster's `codec` option without a file).
 *
 * Both ends of a link must use the same codec. The hello, the refusal and the heartbeat are written in JSON whatever
 * the codec (both codecs read JSON), so two ends that differ read each other's hello, and the side that finds the
 * other's codec differs from its own refuses it with a CodecMismatchError naming both: never a frame read as
 * garbage. A hello names its codec (`codec`) unless it is JSON, which is what a hello naming none (an older liveswap)
 * always spoke.
 */
import { CodecMismatchError, jsonCodec, type Codec } from "./codec.js";
import { msgpackCodec } from "./msgpack-codec.js";
import { helloSender, type WireMessage } from "./protocol.js";

export const CODEC_NAMES = ["msgpack", "json"] as const;
export type CodecName = (typeof CODEC_NAMES)[number];
export const DEFAULT_CODEC: CodecName = "msgpack";

/** The frames every codec writes in JSON (see above). */
const HANDSHAKE_KINDS: ReadonlySet<unknown> = new Set(["hello", "refused", "heartbeat"]);

/** msgpack for everything but the handshake frames. */
const msgpackWire: Codec = {
  name: msgpackCodec.name,
  encode: (value) => (HANDSHAKE_KINDS.has((value as { kind?: unknown } | null)?.kind) ? jsonCodec.encode(value) : msgpackCodec.encode(value)),
  decode: msgpackCodec.decode,
};

/** The codec a connection of this name uses (its handshake frames in JSON). */
export function wireCodec(name: CodecName): Codec {
  return name === "json" ? jsonCodec : msgpackWire;
}

/** What a hello (or a refusal) says of this side's codec: nothing for JSON (see above). */
export function helloCodec(codec: Codec): { readonly codec?: string } {
  return codec.name === "json" ? {} : { codec: codec.name };
}

type Hello = Extract<WireMessage, { kind: "hello" }>;

/** A CodecMismatchError when the hello's sender speaks another codec than `codec`; `self` names this process. */
export function codecMismatch(hello: Pick<Hello, "from" | "role" | "codec">, codec: Codec, self: string): CodecMismatchError | undefined {
  const theirs = hello.codec ?? "json";
  return theirs === codec.name ? undefined : new CodecMismatchError(helloSender(hello), theirs, codec.name, self);
}
