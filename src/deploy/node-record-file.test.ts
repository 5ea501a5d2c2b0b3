import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keysInit } from "./keys.js";
import { describeNodeRecord, NodeRecordError, openNodeRecord, parseNodeRecord, readNodeRecordFile, sealNodeRecord, type NodeRecordFile } from "./node-record-file.js";

let dir: string;
let other: string;
const pem = (d: string, f: string): string => readFileSync(join(d, f), "utf8");
const keysOf = (d: string, node: string) => ({ ca: pem(d, "ca.crt"), cert: pem(d, `${node}.crt`), key: pem(d, `${node}.key`) });
const record = { snapshot: { state: new Map([["user:1", { value: "v1" }]]), seen: new Set(["x"]) }, log: [{ kind: "receive", n: 1 }, undefined] };
const header = { node: "r1", version: "db@2", epoch: 1, retired: ["db@1"], locationEpoch: 3 };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ls-record-"));
  other = mkdtempSync(join(tmpdir(), "ls-record-other-"));
  keysInit(dir, ["r1", "r2"]);
  keysInit(other, ["r1"]);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(other, { recursive: true, force: true });
});

function sealed(): NodeRecordFile {
  return sealNodeRecord(record, header, keysOf(dir, "r1"), new Date("2026-12-01T12:00:00Z"));
}

function refusal(f: NodeRecordFile, ca = pem(dir, "ca.crt"), expected: string | undefined = "r1"): string {
  try {
    openNodeRecord(f, "r1.record", { ca, ...(expected !== undefined ? { expected } : {}) });
    return "accepted";
  } catch (e) {
    expect(e).toBeInstanceOf(NodeRecordError);
    return (e as Error).message;
  }
}

describe("the portable node record (ctl export, node --import, a move's payload)", () => {
  it("round-trips the record (Map, Set, undefined) once its signature, certificate and cluster check out", () => {
    const f = parseNodeRecord(JSON.stringify(sealed()), "r1.record");
    expect(openNodeRecord(f, "r1.record", { ca: pem(dir, "ca.crt"), expected: "r1" })).toEqual({ ...record, mark: { location: { epoch: 3 } } });
    expect(describeNodeRecord(f, "r1.record")).toEqual([
      "node r1, version db@2 (epoch 1), location epoch 3",
      "retired versions: db@1",
      expect.stringMatching(/^exported 2026-12-01T12:00:00.000Z; 2 log entries after its snapshot; payload \d+ bytes, sha256 [0-9a-f]{16}\.\.\.$/),
      expect.stringMatching(/^cluster \(CA sha256\) [0-9a-f]{16}\.\.\.; signed by CN=r1, certificate valid until /),
    ]);
  });

  it("refuses another cluster's record, another node's, a tampered header, payload or certificate, each saying what to do", () => {
    const f = sealed();
    expect(refusal(f, pem(other, "ca.crt"))).toMatch(/^r1\.record: belongs to another cluster \(its CA [0-9a-f]{16}\.\.\., this cluster's [0-9a-f]{16}\.\.\.\); import it into the cluster that exported it$/);
    expect(refusal(f, undefined, "r2")).toBe(`r1.record: is node "r1"'s record, not "r2"'s; start it with --id r1`);
    expect(refusal({ ...f, version: "db@1" })).toMatch(/was altered after it was signed/);
    expect(refusal({ ...f, retired: [] })).toMatch(/was altered after it was signed/);
    const payload = Buffer.from(f.payload, "base64");
    payload.writeUInt8((payload.at(-1) ?? 0) ^ 1, payload.length - 1);
    expect(refusal({ ...f, payload: payload.toString("base64") })).toMatch(/was altered after it was signed/);
    // Signed by another node of the same cluster, claiming to be r1.
    const byR2 = sealNodeRecord(record, header, keysOf(dir, "r2"), new Date());
    expect(refusal(byR2)).toMatch(/signed with another node's certificate \(CN=r2\), not "r1"'s/);
    // A certificate from elsewhere, with the right cluster fingerprint copied in.
    const forged = sealNodeRecord(record, header, { ...keysOf(other, "r1"), ca: pem(dir, "ca.crt") }, new Date());
    expect(refusal(forged)).toMatch(/its certificate was not issued by this cluster's CA/);
    expect(refusal({ ...f, certificate: "not a certificate" })).toMatch(/its certificate is not a certificate/);
  });

  it("reads files with errors that name the file and the fix, never Node's or the JSON parser's own text", () => {
    const file = join(dir, "x.record");
    expect(() => readNodeRecordFile(join(dir, "missing.record"))).toThrow(/missing\.record: cannot be read \(no such file\); `liveswap ctl export ID -o FILE` writes one/);
    writeFileSync(file, "{ nope");
    expect(() => readNodeRecordFile(file)).toThrow(/is not JSON, so not a node record/);
    writeFileSync(file, JSON.stringify({ format: "liveswap-node-record/9" }));
    expect(() => readNodeRecordFile(file)).toThrow(/format "liveswap-node-record\/9", which this liveswap cannot read \(it reads liveswap-node-record\/1\)/);
    writeFileSync(file, JSON.stringify({ ...sealed(), epoch: "one" }));
    expect(() => readNodeRecordFile(file)).toThrow(/field "epoch" is missing or not an integer: the file is damaged/);
    writeFileSync(file, JSON.stringify({ hello: 1 }));
    expect(() => readNodeRecordFile(file)).toThrow(/is not a liveswap node record/);
  });
});
