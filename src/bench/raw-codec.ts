/**
 * What the TCP benchmark's raw baseline sends: the frames a node sends (a numbered data frame carrying an application
 * envelope), encoded with the codec the cluster's nodes use, found by its name through the codec interface, so the
 * baseline follows whichever codec is the default.
 */
import { CODEC_NAMES, wireCodec, type CodecName } from "../network/tcp/codec-choice.js";
import type { Codec } from "../network/tcp/codec.js";

/** The codec named `name` (a cluster file's `codec:`); throws naming the codecs there are. */
export function codecNamed(name: string): Codec {
  if (!(CODEC_NAMES as readonly string[]).includes(name)) throw new Error(`the TCP benchmark knows no codec "${name}" (one of: ${CODEC_NAMES.join(", ")})`);
  return wireCodec(name as CodecName);
}

/** A data frame's message as a node writes it: sequence number, Lamport time, envelope. */
export function dataMessage(k: "ping" | "pong", i: number, from: string, to: string): unknown {
  return { kind: "data", seq: i + 1, lc: 2 * i + 1, env: { kind: "app", id: `${from}.${i + 1}`, from, to, epoch: 0, body: { k, i }, link: 1 } };
}
