import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { LineCounter, parseDocument, isNode } from "yaml";
import { z } from "zod";
import { describeError, LiveswapError } from "../core/errors.js";
import { CODEC_NAMES, DEFAULT_CODEC, type CodecName } from "../network/tcp/codec-choice.js";
import { DEFAULT_HEARTBEAT, heartbeatProblem, type HeartbeatOptions } from "../network/tcp/heartbeat.js";
import { fileProblem, UnknownClusterNodeError } from "./errors.js";
import { parseAddress } from "../network/tcp/sockets.js";
import { natsAddress, natsName } from "../network/nats/nats-sockets.js";

/**
 * The cluster file: which nodes exist, where they listen, what code each
 * starts with, how they are linked, and the keys the cluster trusts. YAML,
 * validated by a schema; an error names the file, the line and the field.
 * Paths are relative to the file.
 */
const address = z.string().refine((a) => {
  try {
    parseAddress(a);
    return true;
  } catch {
    return false;
  }
}, "expected host:port, e.g. 127.0.0.1:7401");
/** A node's address: host:port, or over NATS `nats:<its id>` (checked against the transport below). */
const nodeAddress = z.string().refine((a) => natsName(a) !== undefined || address.safeParse(a).success, "expected host:port, e.g. 127.0.0.1:7401");

const nodeId = z.string().regex(/^[A-Za-z0-9_.-]+$/, "a node id is letters, digits, '_', '.', '-'");

/** How much trace a node keeps: segments of `segmentBytes`, the oldest deleted beyond `maxBytes` in all. */
export interface TraceRetention {
  readonly segmentBytes: number;
  readonly maxBytes: number;
}

/**
 * 4 MiB segments, 64 MiB in all per node: about 270,000 messages at ~250 bytes a message. `ctl trace` holds every
 * node's retained trace in memory to merge and check it: a larger bound makes that process larger too.
 */
export const DEFAULT_TRACE_RETENTION: TraceRetention = { segmentBytes: 4 * 1024 * 1024, maxBytes: 64 * 1024 * 1024 };
/** Smaller segments would rotate at every flush (a flush writes up to 64 KiB). */
export const MIN_SEGMENT_BYTES = 4096;

/**
 * `traceRetention: { segmentBytes, maxBytes }`: a node's trace is written in segments of about `segmentBytes`; once
 * they hold more than `maxBytes` together, the oldest are deleted (and counted, so a reader knows the trace starts
 * later). Defaults: DEFAULT_TRACE_RETENTION. At least two segments must fit, so a rotation never leaves the trace
 * holding the current segment alone.
 */
const traceRetentionSchema = z
  .object({
    segmentBytes: z.number().int("a whole number of bytes").min(MIN_SEGMENT_BYTES, `at least ${MIN_SEGMENT_BYTES} bytes (a segment holds many events)`).default(DEFAULT_TRACE_RETENTION.segmentBytes),
    maxBytes: z.number().int("a whole number of bytes").positive().default(DEFAULT_TRACE_RETENTION.maxBytes),
  })
  .strict()
  .refine((r) => r.maxBytes >= 2 * r.segmentBytes, {
    message: "maxBytes must be at least twice segmentBytes (the current segment and at least one before it); raise maxBytes or lower segmentBytes",
    path: ["maxBytes"],
  });

const schema = z
  .object({
    nodes: z
      .array(
        z
          .object({
            id: nodeId,
            /** Where peers and the control plane dial this node (with `transport: nats`, nothing: it is `nats:<id>`). */
            address: nodeAddress.optional(),
            /**
             * Where the node binds, when not `address`: 0.0.0.0:7401 behind a public address, or a test's private port
             * with a proxy on `address` in front of it (test/support/blackhole-proxy.ts).
             */
            listen: address.optional(),
            /**
             * Where this node dials some of its neighbours, when not at their `address:`: a proxy on the link in
             * between (liveswap chaos delays and cuts links this way), or a route of this host's own.
             */
            dial: z.record(nodeId, address).optional(),
            /** A module exporting `behaviors` (or a signed package of one). */
            package: z.string().min(1),
            /** The export of `behaviors` this node starts with. */
            behavior: z.string().min(1),
            cert: z.string().min(1).optional(),
            key: z.string().min(1).optional(),
            /** Where the node serves its Prometheus metrics (GET /metrics); absent: none. */
            metrics: address.optional(),
          })
          .strict(),
      )
      .min(1, "a cluster needs at least one node"),
    links: z.array(z.tuple([nodeId, nodeId])).default([]),
    trust: z.object({ signingKey: z.string().min(1) }).strict().optional(),
    tls: z
      .object({
        ca: z.string().min(1),
        control: z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict(),
      })
      .strict()
      .optional(),
    /** Where nodes write their NDJSON traces (one file per node) and the control plane its own. */
    trace: z.string().min(1).optional(),
    /** Where nodes keep their durable stores (one directory per node): a node killed and started again recovers. */
    store: z.string().min(1).optional(),
    /** How much trace each node keeps (on disk under `trace:`, else in memory): see TraceRetention. */
    traceRetention: traceRetentionSchema.optional(),
    /** The wire codec of every node and control plane (network/tcp/codec-choice.ts): msgpack (the default) or json. */
    codec: z.enum(CODEC_NAMES, { message: `must be ${CODEC_NAMES.map((c) => `"${c}"`).join(" or ")} (the wire codec every node and ctl of the cluster speaks; default "${DEFAULT_CODEC}")` }).default(DEFAULT_CODEC),
    /**
     * Bounds of each node's outboxes to its neighbours: `memoryBytes` of frames per neighbour in memory, beyond which
     * they spill to disk (the node's store directory, else a temporary one) under `diskQuotaBytes` per node; new
     * outside requests get BusyError once the spill passes 3/4 of the quota. Defaults: 4 MiB and 1 GiB.
     */
    outbox: z
      .object({ memoryBytes: z.number().int().nonnegative().optional(), diskQuotaBytes: z.number().int().positive().optional() })
      .strict()
      .optional(),
    /** Failure detection on every connection (network/tcp/heartbeat.ts); checked below with heartbeatProblem. */
    heartbeat: z
      .object({
        intervalMs: z.number().optional(),
        suspectAfterMs: z.number().optional(),
      })
      .strict()
      .optional(),
    /** The default bound (ms) of an outside request sent by `ctl request` and `connectCluster` (else 30,000). */
    requestTimeoutMs: z.number().int("a whole number of ms").positive("a number of ms > 0").optional(),
    /**
     * Who may read the nodes' metrics: a token (a file holding it; shown as `Authorization: Bearer TOKEN`) and/or
     * HTTPS where a client certificate of the cluster's CA (the control certificate) is let in. Absent: plain HTTP,
     * allowed on loopback only.
     */
    metricsAccess: z.object({ tokenFile: z.string().min(1).optional(), clientCert: z.boolean().optional() }).strict().optional(),
    /**
     * What carries the nodes' connections: the direct TCP mesh (the default), or NATS (every connection, the control
     * plane's included, rides on the servers listed; see network/nats/nats-sockets.ts). Paths are relative to the file.
     */
    transport: z
      .discriminatedUnion("kind", [
        z.object({ kind: z.literal("tcp") }).strict(),
        z
          .object({
            kind: z.literal("nats"),
            servers: z.array(z.string().regex(/^(nats|tls):\/\/[^\s/]+$/, "a NATS server is nats://host:port (or tls://host:port)")).min(1, "list at least one NATS server, e.g. nats://127.0.0.1:4222"),
            /** The prefix of the cluster's subjects (`liveswap.<name>.`): clusters sharing NATS servers need names of their own. */
            name: z.string().regex(/^[A-Za-z0-9_-]+$/, "a NATS cluster name is letters, digits, '_' and '-' (it is part of every subject)").default("liveswap"),
            /** Copies of the cluster's JetStream stream in a NATS cluster (default 1; 3 survives a server lost for good). */
            replicas: z.number().int("a whole number of copies").min(1, "at least 1").max(5, "JetStream keeps at most 5 copies").optional(),
            /** A NATS credentials file (.creds) the servers expect. */
            credentials: z.string().min(1).optional(),
            /** A file holding the token the servers expect (`nats-server --auth TOKEN`). */
            tokenFile: z.string().min(1).optional(),
            /** TLS to the NATS servers: their CA, and a client certificate if they ask for one (PEM files). */
            tls: z.object({ ca: z.string().min(1).optional(), cert: z.string().min(1).optional(), key: z.string().min(1).optional() }).strict().optional(),
          })
          .strict(),
      ], { message: 'must say its kind: "tcp" or "nats"' })
      .optional(),
    /** The nodes' operational logs (deploy/logger.ts): human lines or JSON records (pino), and the lowest level written. */
    log: z
      .object({ format: z.enum(["text", "json"], { message: 'must be "text" or "json"' }).optional(), level: z.enum(["debug", "info", "warn", "error"], { message: 'must be one of "debug", "info", "warn", "error"' }).optional() })
      .strict()
      .optional(),
  })
  .strict();

export interface ClusterNode {
  readonly id: string;
  /** Where peers and the control plane dial it. */
  readonly address: string;
  /** Where it binds, when not `address` (see the schema). */
  readonly listen?: string;
  /** Where it dials a neighbour, when not at the neighbour's address (see the schema). */
  readonly dial?: Readonly<Record<string, string>>;
  readonly package: string;
  readonly behavior: string;
  readonly cert?: string;
  readonly key?: string;
  /** Where it serves its Prometheus metrics. */
  readonly metrics?: string;
}

export interface Cluster {
  /** The file it came from (absolute). */
  readonly file: string;
  readonly nodes: readonly ClusterNode[];
  readonly links: readonly (readonly [string, string])[];
  readonly signingKey?: string;
  readonly tls?: { readonly ca: string; readonly control: { readonly cert: string; readonly key: string } };
  readonly traceDir?: string;
  /** `store:` made absolute: node ID keeps its durable store in storeDir/ID. */
  readonly storeDir?: string;
  /** `traceRetention:` with its defaults filled in (absent: DEFAULT_TRACE_RETENTION). */
  readonly traceRetention?: TraceRetention;
  /** `codec:`, or DEFAULT_CODEC (msgpack). */
  readonly codec: CodecName;
  /** `outbox:` (bytes); a field left out takes its default (DEFAULT_OUTBOX_MEMORY_BYTES, DEFAULT_OUTBOX_DISK_QUOTA_BYTES). */
  readonly outbox?: { readonly memoryBytes?: number; readonly diskQuotaBytes?: number };
  /** `heartbeat:` with what it leaves out filled in; absent: DEFAULT_HEARTBEAT (1 s, suspected after 10 s). */
  readonly heartbeat?: HeartbeatOptions;
  /** `requestTimeoutMs:`: the default bound of an outside request from a client of this file. */
  readonly requestTimeoutMs?: number;
  /** `metricsAccess:`, its token file made absolute. */
  readonly metricsAccess?: { readonly tokenFile?: string; readonly clientCert?: boolean };
  /** `transport:` when it is NATS (its files made absolute); absent: the direct TCP mesh. */
  readonly transport?: NatsTransport;
  /** `log:` of the nodes (their command line's --log-format and --log-level win). */
  readonly log?: { readonly format?: "text" | "json"; readonly level?: "debug" | "info" | "warn" | "error" };
}


/** The cluster file's `transport: { kind: nats, ... }`: where the NATS servers are and how this cluster talks to them. */
export interface NatsTransport {
  readonly kind: "nats";
  readonly servers: readonly string[];
  /** The subjects' prefix is `liveswap.<name>.` (default "liveswap"). */
  readonly name: string;
  /** Copies of the JetStream stream (default 1). */
  readonly replicas?: number;
  readonly credentials?: string;
  readonly tokenFile?: string;
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
}

export class ClusterFileError extends LiveswapError {
  readonly code = "CLUSTER_FILE";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export function loadClusterFile(file: string): Cluster {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, "utf8");
  } catch (e) {
    throw new ClusterFileError(`cluster file ${file}: cannot read it: ${fileProblem(e)}`, { cause: e });
  }
  return parseCluster(text, abs);
}

/** Parse and validate cluster YAML; `file` names it in errors and anchors relative paths. */
export function parseCluster(text: string, file: string): Cluster {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0] as { message: string; linePos?: readonly { line: number; col: number }[] };
    const at = e.linePos?.[0];
    throw new ClusterFileError(`${file}${at ? `:${at.line}:${at.col}` : ""}: not valid YAML (${e.message.split("\n")[0]})`);
  }
  const where = (path: readonly PropertyKey[]): string => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n).map((k) => (typeof k === "symbol" ? String(k) : k)), true);
      if (isNode(node) && node.range) {
        const p = lines.linePos(node.range[0]);
        return `${file}:${p.line}:${p.col}`;
      }
    }
    return file;
  };
  const raw: unknown = doc.toJS();
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    const field = issue.path.length === 0 ? "(top level)" : issue.path.map(String).join(".");
    throw new ClusterFileError(`${where(issue.path)}: field "${field}": ${issueInWords(issue, valueAt(raw, issue.path))}`);
  }
  const c = parsed.data;
  const ids = new Set<string>();
  c.nodes.forEach((n, i) => {
    if (ids.has(n.id)) throw new ClusterFileError(`${where(["nodes", i, "id"])}: field "nodes.${i}.id": node "${n.id}" is listed twice`);
    ids.add(n.id);
    if (c.tls && (n.cert === undefined || n.key === undefined)) {
      throw new ClusterFileError(`${where(["nodes", i])}: field "nodes.${i}": the cluster uses TLS, so node "${n.id}" needs cert and key`);
    }
  });
  checkDialMaps(c.nodes, where);
  if (c.transport?.kind === "nats") checkNatsNodes(c.nodes, where);
  else checkTcpAddresses(c.nodes, where);
  const seen = new Set<string>();
  c.links.forEach(([a, b], i) => {
    for (const [k, x] of [[0, a], [1, b]] as const) {
      if (!ids.has(x)) throw new ClusterFileError(`${where(["links", i, k])}: field "links.${i}.${k}": no node "${x}" in nodes`);
    }
    if (a === b) throw new ClusterFileError(`${where(["links", i])}: field "links.${i}": a node cannot link to itself ("${a}")`);
    const key = linkKey(a, b);
    if (seen.has(key)) throw new ClusterFileError(`${where(["links", i])}: field "links.${i}": "${a}" and "${b}" are linked twice`);
    seen.add(key);
  });
  const heartbeat = heartbeatOf(c.heartbeat, where);
  if (c.metricsAccess?.clientCert === true && c.tls === undefined) {
    throw new ClusterFileError(`${where(["metricsAccess", "clientCert"])}: field "metricsAccess.clientCert": a client certificate is checked against the cluster's CA, and this file has no \`tls:\`; add \`tls:\`, or give \`metricsAccess.tokenFile\` instead`);
  }
  return clusterOf(c, file, heartbeat);
}

/**
 * Over NATS a node is reached by its id (`nats:<id>`): an id NATS cannot carry in a subject is refused, and so is a
 * TCP address, a `listen:` or a `dial:` (nothing would use them).
 */
function checkNatsNodes(nodes: readonly SchemaNode[], where: (path: readonly PropertyKey[]) => string): void {
  nodes.forEach((n, i) => {
    if (!/^[A-Za-z0-9_-]+$/.test(n.id)) throw new ClusterFileError(`${where(["nodes", i, "id"])}: field "nodes.${i}.id": "${n.id}" cannot name a NATS subject (the cluster's transport is nats); use letters, digits, '_' and '-'`);
    if (n.address !== undefined && n.address !== natsAddress(n.id)) throw new ClusterFileError(`${where(["nodes", i, "address"])}: field "nodes.${i}.address": the cluster's transport is nats, where node "${n.id}" is reached by its id; remove the address (or write ${natsAddress(n.id)})`);
    for (const field of ["listen", "dial"] as const) {
      if (n[field] !== undefined) throw new ClusterFileError(`${where(["nodes", i, field])}: field "nodes.${i}.${field}": the cluster's transport is nats, where nodes bind and dial nothing of TCP; remove it`);
    }
  });
}

type SchemaNode = z.infer<typeof schema>["nodes"][number];

/** On the TCP mesh every node has an address of its own, a port it listens on. */
function checkTcpAddresses(nodes: readonly SchemaNode[], where: (path: readonly PropertyKey[]) => string): void {
  const addresses = new Map<string, string>();
  nodes.forEach((n, i) => {
    if (n.address === undefined) throw new ClusterFileError(`${where(["nodes", i])}: field "nodes.${i}.address": node "${n.id}" has no address; give the host:port it listens on, e.g. 127.0.0.1:7401 (or use \`transport: { kind: nats, servers: [...] }\`)`);
    if (natsName(n.address) !== undefined) throw new ClusterFileError(`${where(["nodes", i, "address"])}: field "nodes.${i}.address": ${n.address} is an address on NATS, and this file has no \`transport: { kind: nats, servers: [...] }\`; add it, or give the host:port node "${n.id}" listens on`);
    const { host, port } = parseAddress(n.address);
    if (port === 0) throw new ClusterFileError(`${where(["nodes", i, "address"])}: field "nodes.${i}.address": port 0 is no address its neighbours can dial; give the port node "${n.id}" listens on`);
    const key = `${host.toLowerCase()}:${port}`;
    const other = addresses.get(key);
    if (other !== undefined) throw new ClusterFileError(`${where(["nodes", i, "address"])}: field "nodes.${i}.address": ${n.address} is node "${other}"'s address too; each node listens on its own`);
    addresses.set(key, n.id);
  });
}


/** The checked file as a Cluster: paths made absolute (from the file's directory), defaults filled in. */
function clusterOf(c: z.infer<typeof schema>, file: string, heartbeat: HeartbeatOptions | undefined): Cluster {
  const rel = (p: string): string => resolve(dirname(file), p);
  return {
    file,
    nodes: c.nodes.map((n) => ({
      id: n.id,
      address: n.address ?? natsAddress(n.id),
      ...(n.listen !== undefined ? { listen: n.listen } : {}),
      ...(n.dial !== undefined ? { dial: n.dial } : {}),
      package: rel(n.package),
      behavior: n.behavior,
      ...(n.cert !== undefined ? { cert: rel(n.cert) } : {}),
      ...(n.key !== undefined ? { key: rel(n.key) } : {}),
      ...(n.metrics !== undefined ? { metrics: n.metrics } : {}),
    })),
    links: c.links,
    ...(c.trust ? { signingKey: rel(c.trust.signingKey) } : {}),
    ...(c.tls ? { tls: { ca: rel(c.tls.ca), control: { cert: rel(c.tls.control.cert), key: rel(c.tls.control.key) } } } : {}),
    ...(c.trace !== undefined ? { traceDir: rel(c.trace) } : {}),
    ...(c.store !== undefined ? { storeDir: rel(c.store) } : {}),
    ...(c.traceRetention !== undefined ? { traceRetention: c.traceRetention } : {}),
    codec: c.codec,
    ...(c.outbox !== undefined ? { outbox: { ...(c.outbox.memoryBytes !== undefined ? { memoryBytes: c.outbox.memoryBytes } : {}), ...(c.outbox.diskQuotaBytes !== undefined ? { diskQuotaBytes: c.outbox.diskQuotaBytes } : {}) } } : {}),
    ...(heartbeat !== undefined ? { heartbeat } : {}),
    ...(c.requestTimeoutMs !== undefined ? { requestTimeoutMs: c.requestTimeoutMs } : {}),
    ...(c.transport?.kind === "nats" ? { transport: natsTransportOf(c.transport, rel) } : {}),
    ...(c.log !== undefined ? { log: { ...(c.log.format !== undefined ? { format: c.log.format } : {}), ...(c.log.level !== undefined ? { level: c.log.level } : {}) } } : {}),
    ...(c.metricsAccess !== undefined ? { metricsAccess: { ...(c.metricsAccess.tokenFile !== undefined ? { tokenFile: rel(c.metricsAccess.tokenFile) } : {}), ...(c.metricsAccess.clientCert !== undefined ? { clientCert: c.metricsAccess.clientCert } : {}) } } : {}),
  };
}

function natsTransportOf(t: Extract<NonNullable<z.infer<typeof schema>["transport"]>, { kind: "nats" }>, rel: (p: string) => string): NatsTransport {
  return {
    kind: "nats",
    servers: t.servers,
    name: t.name,
    ...(t.replicas !== undefined ? { replicas: t.replicas } : {}),
    ...(t.credentials !== undefined ? { credentials: rel(t.credentials) } : {}),
    ...(t.tokenFile !== undefined ? { tokenFile: rel(t.tokenFile) } : {}),
    ...(t.tls !== undefined ? { tls: { ...(t.tls.ca !== undefined ? { ca: rel(t.tls.ca) } : {}), ...(t.tls.cert !== undefined ? { cert: rel(t.tls.cert) } : {}), ...(t.tls.key !== undefined ? { key: rel(t.tls.key) } : {}) } } : {}),
  };
}

/** Every `dial:` names a node of the file. */
function checkDialMaps(nodes: readonly { readonly id: string; readonly dial?: Readonly<Record<string, string>> | undefined }[], where: (path: readonly PropertyKey[]) => string): void {
  nodes.forEach((n, i) => {
    for (const peer of Object.keys(n.dial ?? {})) {
      if (!nodes.some((m) => m.id === peer)) throw new ClusterFileError(`${where(["nodes", i, "dial", peer])}: field "nodes.${i}.dial.${peer}": no node "${peer}" in nodes; name a neighbour of "${n.id}"`);
    }
  });
}

/**
 * `heartbeat:` with what it leaves out derived from what it gives: an interval alone suspects after five of them (at
 * least the default 10 s), a timeout alone beats five times within it (at most once a second).
 */
function heartbeatOf(h: { intervalMs?: number | undefined; suspectAfterMs?: number | undefined } | undefined, where: (path: readonly PropertyKey[]) => string): HeartbeatOptions | undefined {
  if (h === undefined) return undefined;
  const intervalMs = h.intervalMs ?? (h.suspectAfterMs !== undefined ? Math.min(DEFAULT_HEARTBEAT.intervalMs, Math.max(1, Math.floor(h.suspectAfterMs / 5))) : DEFAULT_HEARTBEAT.intervalMs);
  const suspectAfterMs = h.suspectAfterMs ?? Math.max(DEFAULT_HEARTBEAT.suspectAfterMs, 5 * intervalMs);
  const o = { intervalMs, suspectAfterMs };
  const p = heartbeatProblem(o);
  if (p !== undefined) throw new ClusterFileError(`${where(["heartbeat", p.field])}: field "heartbeat.${p.field}": ${p.message}`);
  return o;
}

/** Link incarnations every process derives alike: the file's order, from 1. */
export function linkIncarnations(cluster: Cluster): Map<string, number> {
  const out = new Map<string, number>();
  cluster.links.forEach(([a, b], i) => {
    out.set(linkKey(a, b), i + 1);
  });
  return out;
}

export function linkKey(a: string, b: string): string {
  return a < b ? `${a}\n${b}` : `${b}\n${a}`;
}

/** The YAML's value at an issue's path (to say what was found there). */
function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const k of path) v = typeof v === "object" && v !== null ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/** A schema issue in the words of the cluster file (zod's own text says "Invalid input"). */
function issueInWords(issue: z.core.$ZodIssue, value: unknown): string {
  const top = issue.path[0];
  if (value === null) {
    if (issue.path.length === 1 && top === "links") return "is empty: list each link under it as - [a, b], or write links: [] for a cluster without links";
    if (issue.path.length === 1 && top === "nodes") return "is empty: list each node under it (- id: ..., address: ..., package: ..., behavior: ...)";
    return "is empty: give it a value, or remove the line";
  }
  if (top === "links" && issue.path.length === 2) return `a link is a pair of node ids, e.g. - [a, b]; got ${JSON.stringify(value)}`;
  // zod reports a fraction given for .int() as a type error: say what is wanted (the schema's own words when it has some).
  if (issue.code === "invalid_type" && issue.expected === "int" && typeof value === "number") {
    return issue.message.startsWith("Invalid input") ? `expected a whole number, got ${value}` : issue.message;
  }
  if (issue.code === "invalid_type") return `expected ${issue.expected === "tuple" ? "a list" : issue.expected}, got ${value === undefined ? "nothing" : Array.isArray(value) ? "a list" : typeof value}`;
  return issue.message;
}

/**
 * The files node `id` starts from on this machine (its package, certificate and key) exist and can be read: checked
 * before a process starts, naming the field and the file (a node would say it in a module loader's words).
 */
export function checkNodeFiles(cluster: Cluster, id: string): void {
  const i = cluster.nodes.findIndex((n) => n.id === id);
  const node = cluster.nodes[i];
  if (node === undefined) throw new UnknownClusterNodeError(id, "start", cluster.file, cluster.nodes.map((n) => n.id));
  const files: [string, string, string | undefined][] = [
    ["package", "its package", node.package],
    ["cert", "its certificate", node.cert],
    ["key", "its private key", node.key],
  ];
  for (const [field, what, path] of files) {
    if (path === undefined) continue;
    let problem: string | undefined;
    try {
      accessSync(path, constants.R_OK);
      if (statSync(path).isDirectory()) problem = "it is a directory, not a file";
    } catch (e) {
      problem = fileProblem(e);
    }
    if (problem !== undefined) {
      throw new ClusterFileError(`${cluster.file}: field "nodes.${i}.${field}": node "${id}": ${what} ${path} cannot be used: ${problem} (paths are relative to the cluster file)`);
    }
  }
}
