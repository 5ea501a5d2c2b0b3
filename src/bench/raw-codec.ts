/**
 * What the TCP benchmark's raw baseline sends: the frames a node sends (a numbered data frame carrying an application
 * envelope), encoded with the codec the cluster's nodes use, found by its name through the codec interface, so the
 * baseline follows whichever codec is the default.
 */
import * as codecs from "../network/tcp/codec.js";
import type { Codec } from "../network/tcp/codec.js";

function isCodec(v: unknown): v is Codec {
  if (typeof v !== "object" || v === null) return false;
  const c = v as Partial<Codec>;
  return typeof c.name === "string" && typeof c.encode === "function" && typeof c.decode === "function";
}

/** The codec named `name` (a cluster file's `codec:`); throws naming the codecs there are. */
export function codecNamed(name: string): Codec {
  const all = Object.values(codecs).filter(isCodec);
  const found = all.find((c) => c.name === name);
  if (found === undefined) throw new Error(`the TCP benchmark knows no codec "${name}" (codec.ts exports: ${all.map((c) => c.name).join(", ")})`);
  return found;
}

/** A data frame's message as a node writes it: sequence number, Lamport time, envelope. */
export function dataMessage(k: "ping" | "pong", i: number, from: string, to: string): unknown {
  return { kind: "data", seq: i + 1, lc: 2 * i + 1, env: { kind: "app", id: `${from}.${i + 1}`, from, to, epoch: 0, body: { k, i }, link: 1 } };
}
