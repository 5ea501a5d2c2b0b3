/**
 * A node's durable record as a portable file (docs/design.md "Moving a node"): what `ctl export` writes and
 * `liveswap node --import` starts from (disaster recovery onto new hardware), and what a move carries. JSON, so a
 * person can read its header (`liveswap record inspect`); the record itself is the store's own encoding
 * (record-codec.ts, versioned) in base64. Signed by the exporting node with its TLS key, whose certificate travels
 * with it: an importer checks that the certificate was issued by its cluster's CA and names the node, and that the
 * signature covers the header and the payload's sha256. So a record from another cluster, a tampered one, one of
 * another node or of an unknown format is refused, each with an error that says which and what to do.
 */
import { createHash, createPrivateKey, sign, verify, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { describeError, LiveswapError } from "../core/errors.js";
import type { NodeId } from "../core/ids.js";
import type { StoredRecord } from "../runtime/node-store.js";
import type { LocationState } from "./node-location.js";
import { NodeConfigError } from "./errors.js";
import { decodeRecord, encodeRecord } from "./store/record-codec.js";

export const NODE_RECORD_FORMAT = "liveswap-node-record/1";

/** The file: everything but `signature` is signed (canonical JSON, keys sorted). */
export interface NodeRecordFile {
  readonly format: string;
  /** sha256 of the cluster CA's certificate (DER), hex: which cluster the record belongs to. */
  readonly cluster: string;
  readonly node: NodeId;
  readonly version: string;
  readonly epoch: number;
  /** The versions the node's updates retired (it must never run them again). */
  readonly retired: readonly string[];
  /**
   * The location epoch a node started from this record takes: one above the exporter's, so that its neighbours, once
   * they hear the new location, refuse the old one for good (a copy and its original never both serve).
   */
  readonly locationEpoch: number;
  readonly exportedAt: string;
  /** Log entries after the snapshot (0 when the export caught the node quiet). */
  readonly logEntries: number;
  /** sha256 of the payload's bytes, hex. */
  readonly sha256: string;
  /** base64 of the record (snapshot and log) in the store's record encoding. */
  readonly payload: string;
  /** The exporting node's certificate (PEM). */
  readonly certificate: string;
  /** base64 signature (SHA-256 with the node's key) of the rest. */
  readonly signature: string;
}

/** A record file that cannot be read, verified or used: the message names the file, what is wrong, and the fix. */
export class NodeRecordError extends LiveswapError {
  readonly code = "NODE_RECORD";
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

export interface RecordHeader {
  readonly node: NodeId;
  readonly version: string;
  readonly epoch: number;
  readonly retired: readonly string[];
  readonly locationEpoch: number;
}

/** The cluster a CA certificate (PEM) stands for. */
export function clusterFingerprint(caPem: string): string {
  return createHash("sha256").update(caCertificate(caPem).raw).digest("hex");
}

/** The cluster's CA certificate, or an error in words (never OpenSSL's "PEM routines::no start line"). */
function caCertificate(pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new NodeConfigError("the cluster's CA file (tls.ca) is not a PEM certificate; make keys with `liveswap keys init`");
  }
}

/** The signed file of `record`, exported by the node whose certificate and key (PEM) are given. */
export function sealNodeRecord(
  record: StoredRecord,
  header: RecordHeader,
  keys: { readonly ca: string; readonly cert: string; readonly key: string },
  now: Date,
  /** The location the node takes where it is started from the record (node-location.ts); default: the header's epoch. */
  location: LocationState = { epoch: header.locationEpoch },
): NodeRecordFile {
  // The trace bookmark is the exporting machine's (its trace file's length): a node started elsewhere starts a new file.
  const bytes = encodeRecord({ snapshot: record.snapshot, log: record.log, location });
  const unsigned = {
    format: NODE_RECORD_FORMAT,
    cluster: clusterFingerprint(keys.ca),
    ...header,
    retired: [...header.retired].sort(),
    exportedAt: now.toISOString(),
    logEntries: record.log.length,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    payload: bytes.toString("base64"),
    certificate: keys.cert,
  };
  const signature = sign("sha256", canonical(unsigned), createPrivateKey(keys.key)).toString("base64");
  return { ...unsigned, signature };
}

/** The file's JSON, checked for shape (not yet for trust: see openNodeRecord). */
export function readNodeRecordFile(file: string): NodeRecordFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    throw new NodeRecordError(file, `cannot be read (${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : describeError(e)}); \`liveswap ctl export ID -o FILE\` writes one`);
  }
  return parseNodeRecord(text, file);
}

export function parseNodeRecord(text: string, file: string): NodeRecordFile {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new NodeRecordError(file, "is not JSON, so not a node record (`liveswap ctl export ID -o FILE` writes one)");
  }
  const o = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  if (typeof o.format !== "string" || !o.format.startsWith("liveswap-node-record/")) {
    throw new NodeRecordError(file, "is not a liveswap node record (no \"format\": \"liveswap-node-record/N\" field)");
  }
  if (o.format !== NODE_RECORD_FORMAT) {
    throw new NodeRecordError(file, `is a node record of format "${o.format}", which this liveswap cannot read (it reads ${NODE_RECORD_FORMAT}); import it with the liveswap that exported it, or a newer one`);
  }
  const strings = ["cluster", "node", "version", "exportedAt", "sha256", "payload", "certificate", "signature"] as const;
  for (const k of strings) if (typeof o[k] !== "string" || o[k] === "") throw new NodeRecordError(file, `field "${k}" is missing or not a string: the file is damaged; export the node again`);
  for (const k of ["epoch", "locationEpoch", "logEntries"] as const) if (!Number.isInteger(o[k])) throw new NodeRecordError(file, `field "${k}" is missing or not an integer: the file is damaged; export the node again`);
  if (!Array.isArray(o.retired) || !o.retired.every((r) => typeof r === "string")) throw new NodeRecordError(file, `field "retired" is not a list of versions: the file is damaged; export the node again`);
  return o as unknown as NodeRecordFile;
}

/**
 * The record inside `f`, once it is trusted: this cluster's (`caPem`), signed by the node it names with a certificate
 * this cluster's CA issued, unaltered, and of node `expected` when one is given.
 */
export function openNodeRecord(f: NodeRecordFile, file: string, trust: { readonly ca: string; readonly expected?: NodeId }): StoredRecord {
  const here = clusterFingerprint(trust.ca);
  if (f.cluster !== here) throw new NodeRecordError(file, `belongs to another cluster (its CA ${short(f.cluster)}, this cluster's ${short(here)}); import it into the cluster that exported it`);
  if (trust.expected !== undefined && f.node !== trust.expected) throw new NodeRecordError(file, `is node "${f.node}"'s record, not "${trust.expected}"'s; start it with --id ${f.node}`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(f.certificate);
  } catch {
    throw new NodeRecordError(file, "its certificate is not a certificate: the file was altered; export the node again");
  }
  const ca = caCertificate(trust.ca);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) throw new NodeRecordError(file, "its certificate was not issued by this cluster's CA: it was altered or comes from elsewhere; export the node again");
  if (!certificateNames(cert, f.node)) throw new NodeRecordError(file, `it is signed with another node's certificate (${cert.subject.replace(/\n/g, ", ")}), not "${f.node}"'s: it was altered`);
  const { signature, ...unsigned } = f;
  if (!verify("sha256", canonical(unsigned), cert.publicKey, Buffer.from(signature, "base64"))) {
    throw new NodeRecordError(file, "was altered after it was signed (the signature does not match its content); export the node again");
  }
  const bytes = Buffer.from(f.payload, "base64");
  if (createHash("sha256").update(bytes).digest("hex") !== f.sha256) throw new NodeRecordError(file, "its payload was altered after it was signed (sha256 differs); export the node again");
  const decoded = decodeRecord(bytes, file, "the exported record") as { snapshot?: unknown; log?: unknown; location?: unknown };
  if (!Array.isArray(decoded.log)) throw new NodeRecordError(file, "its payload is not a node record (no log): export the node again");
  // The location goes in the bookmark, where a node keeps it (node-location.ts).
  const location = decoded.location ?? { epoch: f.locationEpoch };
  return { snapshot: decoded.snapshot, log: decoded.log, mark: { location } };
}

/** What `liveswap record inspect` shows of a file: its header, one line a field. */
export function describeNodeRecord(f: NodeRecordFile, file: string): string[] {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(f.certificate);
  } catch {
    throw new NodeRecordError(file, "its certificate is not a certificate: the file was altered; export the node again");
  }
  return [
    `node ${f.node}, version ${f.version} (epoch ${f.epoch}), location epoch ${f.locationEpoch}`,
    `retired versions: ${f.retired.length > 0 ? f.retired.join(", ") : "none"}`,
    `exported ${f.exportedAt}; ${f.logEntries} log entr${f.logEntries === 1 ? "y" : "ies"} after its snapshot; payload ${Buffer.from(f.payload, "base64").length} bytes, sha256 ${short(f.sha256)}`,
    `cluster (CA sha256) ${short(f.cluster)}; signed by ${cert.subject.replace(/\n/g, ", ")}, certificate valid until ${cert.validTo}`,
  ];
}

function certificateNames(cert: X509Certificate, node: NodeId): boolean {
  return cert.subject.split("\n").some((l) => l === `CN=${node}`);
}

const short = (hex: string): string => `${hex.slice(0, 16)}...`;

/** The bytes signed: the object with its keys sorted, recursively, no spaces. */
function canonical(v: unknown): Buffer {
  const sortKeys = (x: unknown): unknown =>
    Array.isArray(x) ? x.map(sortKeys) : typeof x === "object" && x !== null ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, sortKeys((x as Record<string, unknown>)[k])])) : x;
  return Buffer.from(JSON.stringify(sortKeys(v)));
}
