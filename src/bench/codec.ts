/**
 * The wire codecs side by side: encodes + decodes a second and bytes a message, for the msgpack codec (the default)
 * and the JSON codec, on two messages:
 *
 * - plain: a data frame as a peer channel sends it (an application envelope with a small body);
 * - Map/Set: a plane frame carrying a strategy's control message whose data holds Maps and Sets (what the JSON codec
 *   tags, and the msgpack codec too for its Maps), shaped like a snapshot/rollback part answer of a node
 *   with 16 neighbours.
 *
 * Both codecs are measured as a link uses them (codec-choice.ts: the refusal walk before encoding, the check of what
 * was decoded), in rounds interleaved A, B, A, B..., best round kept, so that the load of a shared machine weighs on
 * both alike. Raw msgpackr (the same options, no walk, no check) is measured beside them to show what the codec's
 * checks cost. No target: msgpack is the default, the figures say by how much it is faster and smaller.
 */
import { loadavg } from "node:os";
import { Packr, Unpackr } from "msgpackr";
import { type Codec } from "../network/tcp/codec.js";
import { wireCodec } from "../network/tcp/codec-choice.js";
import type { BenchmarkOutput } from "./benchmark.js";
import { count, fixed } from "./format.js";

export interface CodecBenchOptions {
  /** Rounds per codec and message (default 7); the best is kept. */
  readonly rounds?: number;
  /** Wall ms of each round (default 100). */
  readonly roundMs?: number;
}

/** One message's figures. */
export interface CodecFigures {
  readonly message: "plain" | "map-set";
  readonly msgpackPerSec: number;
  readonly jsonPerSec: number;
  /** msgpackr alone (the codec's options), no refusal walk, no tags, no check of the decoded value (a Map comes back an object). */
  readonly rawMsgpackrPerSec: number;
  /** Encodes alone and decodes alone a second, each codec: where a round trip's time goes. */
  readonly encodePerSec: { readonly msgpack: number; readonly json: number };
  readonly decodePerSec: { readonly msgpack: number; readonly json: number };
  readonly msgpackBytes: number;
  readonly jsonBytes: number;
  /** msgpackPerSec / jsonPerSec: how many times faster msgpack is. */
  readonly speedRatio: number;
  /** msgpackBytes / jsonBytes: the size of a msgpack frame as a fraction of JSON's. */
  readonly bytesRatio: number;
}

/** Many messages of one shape, numbers varying as a stream's do (no codec sees the same value twice in a row). */
function plainMessages(n: number): unknown[] {
  return Array.from({ length: n }, (_, i) => ({
    kind: "data",
    seq: i + 1,
    lc: 1_733_000_000_000_000 + i,
    env: { kind: "app", id: `r0.${1_733_000_000_000 + i}`, from: "r0", to: "r1", epoch: 0, body: { k: "put", key: `key-${i % 977}`, value: i * 7 }, link: 3, seq: i + 1 },
  }));
}

function mapSetMessages(n: number): unknown[] {
  const peers = Array.from({ length: 16 }, (_, j) => `r${j}`);
  return Array.from({ length: n }, (_, i) => ({
    kind: "plane",
    lc: 1_733_000_000_000_000 + i,
    env: {
      kind: "control",
      from: "r0",
      to: "r1",
      update: 4,
      link: 2,
      plane: false,
      seq: i + 1,
      msg: {
        kind: "part",
        prepared: true,
        version: "db@2",
        begun: true,
        drained: i % 2 === 0,
        ack: { vt: peers.map((_, j) => i + j), st: peers.map((_, j) => (i * j) % 13) },
        // A strategy's own bookkeeping: per-channel positions, the neighbours heard from, what is held back.
        channels: new Map(peers.map((p, j) => [p, { sent: i + j, received: i + 2 * j, marker: j % 3 === 0 }])),
        heard: new Set(peers.filter((_, j) => (i + j) % 3 !== 0)),
        held: new Map(peers.slice(0, 4).map((p, j) => [p, [i, i + j, undefined]])),
      },
    },
  }));
}

/** Round trips of `msgs` (cycled) for about `ms` wall ms: encodes + decodes a second. */
function round(codec: Pick<Codec, "encode" | "decode">, msgs: readonly unknown[], ms: number): number {
  let n = 0;
  let sink = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    // 256 round trips between clock reads.
    for (let k = 0; k < 256; k++) {
      const bytes = codec.encode(msgs[n++ % msgs.length]);
      sink += (codec.decode(bytes) as { lc: number }).lc & 1;
    }
    t = performance.now();
  }
  if (sink < 0) throw new Error("unreachable: keeps the decode from being optimised away");
  return (n / (t - t0)) * 1000;
}

/** msgpackr as it is, with the options of the msgpack codec: what its checks are measured against. */
function rawMsgpackr(): Pick<Codec, "encode" | "decode"> {
  const packr = new Packr({ moreTypes: true, useRecords: false });
  const unpackr = new Unpackr({ moreTypes: true, useRecords: false });
  return { encode: (v) => packr.pack(v), decode: (b) => unpackr.unpack(b) as unknown };
}

/** Encodes only, or decodes only (of frames encoded beforehand): where a round trip's time goes. */
function oneWay(work: (i: number) => unknown, n: number, ms: number): number {
  let i = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let k = 0; k < 256; k++) work(i++ % n);
    t = performance.now();
  }
  return (i / (t - t0)) * 1000;
}

function measure(message: CodecFigures["message"], msgs: readonly unknown[], rounds: number, roundMs: number): CodecFigures {
  const msgpack = wireCodec("msgpack");
  const json = wireCodec("json");
  const raw = rawMsgpackr();
  const mFrames = msgs.map((m) => Buffer.from(msgpack.encode(m)));
  const jFrames = msgs.map((m) => json.encode(m));
  const runs = {
    msgpack: (ms: number) => round(msgpack, msgs, ms),
    json: (ms: number) => round(json, msgs, ms),
    raw: (ms: number) => round(raw, msgs, ms),
    msgpackEncode: (ms: number) => oneWay((i) => msgpack.encode(msgs[i]), msgs.length, ms),
    jsonEncode: (ms: number) => oneWay((i) => json.encode(msgs[i]), msgs.length, ms),
    msgpackDecode: (ms: number) => oneWay((i) => msgpack.decode(mFrames[i] as Buffer), msgs.length, ms),
    jsonDecode: (ms: number) => oneWay((i) => json.decode(jFrames[i] as Buffer), msgs.length, ms),
  };
  const order = Object.keys(runs) as (keyof typeof runs)[];
  const best = Object.fromEntries(order.map((k) => [k, 0])) as Record<keyof typeof runs, number>;
  // Warm up every path first (JIT), then interleave.
  for (const k of order) runs[k](Math.min(100, roundMs));
  for (let r = 0; r < rounds; r++) {
    // The order turns every round: no contender always runs after the same one (and in the garbage it left).
    for (let j = 0; j < order.length; j++) {
      const k = order[(r + j) % order.length] as keyof typeof runs;
      best[k] = Math.max(best[k], runs[k](roundMs));
    }
  }
  const bytesOf = (frames: readonly Buffer[]): number => frames.slice(0, 100).reduce<number>((s, f) => s + f.length, 0) / Math.min(100, frames.length);
  const msgpackBytes = bytesOf(mFrames);
  const jsonBytes = bytesOf(jFrames);
  return {
    message,
    msgpackPerSec: best.msgpack,
    jsonPerSec: best.json,
    rawMsgpackrPerSec: best.raw,
    encodePerSec: { msgpack: best.msgpackEncode, json: best.jsonEncode },
    decodePerSec: { msgpack: best.msgpackDecode, json: best.jsonDecode },
    msgpackBytes,
    jsonBytes,
    speedRatio: best.msgpack / best.json,
    bytesRatio: msgpackBytes / jsonBytes,
  };
}

export function codecBenchmark(o: CodecBenchOptions = {}): BenchmarkOutput {
  const rounds = o.rounds ?? 7;
  const roundMs = o.roundMs ?? 100;
  const load = loadavg()[0] ?? 0;
  const figures = [measure("plain", plainMessages(1000), rounds, roundMs), measure("map-set", mapSetMessages(200), rounds, roundMs)];
  const label = { plain: "plain (a data frame, app envelope)", "map-set": "Map/Set (a strategy's control message)" };
  const lines = [
    `encode + decode of one message, as a link does it (refusal walk and decoded check included); best of ${rounds} interleaved rounds of ${roundMs} ms; load ${fixed(load, 2)}`,
    ...figures.flatMap((f) => [
      `  ${label[f.message]}:`,
      `    msgpack ${count(f.msgpackPerSec)}/s, ${fixed(f.msgpackBytes, 1)} bytes   json ${count(f.jsonPerSec)}/s, ${fixed(f.jsonBytes, 1)} bytes`,
      `    msgpack / json: ${fixed(f.speedRatio, 2)}x the round trips, ${fixed(f.bytesRatio, 2)} of the bytes   (raw msgpackr without the codec's checks: ${count(f.rawMsgpackrPerSec)}/s)`,
      `    alone: encode msgpack ${count(f.encodePerSec.msgpack)}/s json ${count(f.encodePerSec.json)}/s (${fixed(f.encodePerSec.msgpack / f.encodePerSec.json, 2)}x), decode msgpack ${count(f.decodePerSec.msgpack)}/s json ${count(f.decodePerSec.json)}/s (${fixed(f.decodePerSec.msgpack / f.decodePerSec.json, 2)}x)`,
    ]),
    "  no target: msgpack is the default codec (cluster file codec: msgpack | json)",
  ];
  return { records: figures.map((f) => ({ ...f, rounds, roundMs, load })), lines };
}
