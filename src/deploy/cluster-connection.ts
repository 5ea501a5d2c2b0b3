import type { NodeRecordFile } from "./node-record-file.js";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { CheckReport } from "../check/checker.js";
import { InvalidOptionError, messageOf } from "../core/errors.js";
import type { NodeId } from "../core/ids.js";
import type { TraceEvent } from "../core/trace/trace-event.js";
import type { Strategy, UpdateReport } from "../core/update.js";
import type { NodeStatus, UpdateView } from "../network/tcp/protocol.js";
import { CODEC_NAMES, DEFAULT_CODEC, type CodecName } from "../network/tcp/codec-choice.js";
import { parseAddress } from "../network/tcp/sockets.js";
import { ClusterClient, type DestroyOutcome, type DownNode, type ForgetOutcome, type RequestOptions, type StatusOptions, type UnlinkOutcome, type UpdateProgress } from "./cluster-client.js";
import { loadClusterFile, type Cluster } from "./cluster-file.js";
import type { ClusterTrace } from "./node-trace.js";
import type { RetryPolicy } from "./request-retry.js";

/** The control plane's certificate: each field a PEM file's path, or the PEM text itself. */
export interface ClusterTls {
  /** The cluster's CA certificate (every node's certificate must be signed by it). */
  readonly ca: string;
  /** A certificate of that CA whose common name is "control" (`liveswap keys init` makes control.crt). */
  readonly cert: string;
  readonly key: string;
}

interface CommonOptions {
  /** How a request whose connection is lost is retried (default: 6 attempts, backoff from 100 ms to 2 s). */
  readonly retry?: RetryPolicy;
  /** The default bound of request() in ms, retries included (default: the cluster file's `requestTimeoutMs`, else 30,000). */
  readonly requestTimeoutMs?: number;
  /** The bound per node of status and configuration commands, dial included (default 5,000): a node past it is shown as not answering. */
  readonly commandTimeoutMs?: number;
}

/**
 * Where the cluster is: its cluster file (the nodes, their addresses and the control plane's TLS files, as `liveswap
 * ctl --cluster` reads it), or the nodes' addresses and the TLS material given here.
 */
export type ConnectOptions =
  | (CommonOptions & { readonly cluster: string })
  | (CommonOptions & {
      readonly nodes: Readonly<Record<NodeId, string>>;
      /** Omit for plain TCP (a cluster file without `tls:`). */
      readonly tls?: ClusterTls;
      /** Where this client keeps the control plane's trace and destroyed nodes' traces (default ./.liveswap-trace). */
      readonly traceDir?: string;
      /** The cluster's wire codec, as its cluster file's `codec:` says (default "msgpack"); a node of another refuses us. */
      readonly codec?: CodecName;
    });

/** Every node that answered, with its status, and every other one with why it did not. */
export interface ClusterStatus {
  readonly up: readonly NodeStatus[];
  /** `code`: NODE_UNREACHABLE (nothing listens: down) or NODE_NOT_ANSWERING (no answer within the bound: it may be alive). */
  readonly down: readonly DownNode[];
}

export interface ClusterUpdateOptions {
  readonly strategy: Strategy;
  /** Where the update starts (default: chosen by the strategy). */
  readonly root?: NodeId;
  /** Told as nodes acknowledge prepare and turn new, halt, or are waited for. */
  readonly onProgress?: (p: UpdateProgress) => void;
  /** Prepare's deadline (ms, default 30,000): a node not prepared by then aborts the update with PrepareDeadlineError. */
  readonly deadlineMs?: number;
}

/** Which update to watch: by default the running one (or the last one), wherever its root is. */
export interface WatchOptions {
  readonly root?: NodeId;
  readonly id?: number;
  readonly onProgress?: (p: UpdateProgress) => void;
}

/**
 * A client of a running liveswap cluster (`liveswap node` processes), for programs: the same client `liveswap ctl`
 * uses. Connections open on first use, one per node, and are shared by concurrent calls.
 */
export interface ClusterConnection {
  /** The nodes this client knows, with their addresses. */
  readonly nodes: readonly { readonly id: NodeId; readonly address: string }[];
  /**
   * An outside request to `node`; resolves with its handler's response. A lost connection is retried with backoff
   * under the same id, so the node runs the request once; give your own `id` to make your own retries safe too.
   * Rejects with NodeUnreachableError (after the retries), RequestTimeoutError, RequestExpiredError (a retry of an
   * id older than the node's retention window), RequestIdReusedError, or RemoteError (the node's own refusal).
   */
  request<R = unknown>(node: NodeId, body: unknown, opts?: RequestOptions): Promise<R>;
  /** Every node's version, neighbours, connections and update; a node silent past `timeoutMs` (default 5,000) is in `down`. */
  status(opts?: StatusOptions): Promise<ClusterStatus>;
  /** Rejects with NodeNotAnsweringError past `timeoutMs`, NodeUnreachableError when nothing listens. */
  nodeStatus(node: NodeId, opts?: StatusOptions): Promise<NodeStatus>;
  /** Ship a signed package (the text of a `liveswap pack` file) and update every running node with a strategy. */
  update(pkg: string, opts: ClusterUpdateOptions): Promise<UpdateReport>;
  /**
   * Submit an update to its root, which coordinates it in the cluster, and return at once with its id: the update
   * goes on whatever happens to this client. Follow it with watch().
   */
  submitUpdate(pkg: string, opts: Omit<ClusterUpdateOptions, "onProgress">): Promise<{ readonly id: number; readonly root: NodeId }>;
  /** Follow an update to its end: resolves with its report, rejects with its error (or when its root stays unreachable). */
  watch(opts?: WatchOptions): Promise<UpdateReport>;
  /** How the running update (or the last one) stands; null when no node coordinated one. */
  updateView(): Promise<UpdateView | null>;
  /** Give the running update up while it prepares (UpdateNotAbortableError after: no abort once nodes may turn new). */
  abortUpdate(reason?: string): Promise<UpdateView>;
  /** Finish a halted update with a corrected package of the same versions; resolves like update(). */
  resumeUpdate(pkg: string, opts?: { readonly onProgress?: (p: UpdateProgress) => void }): Promise<UpdateReport>;
  /** The running update's root is lost for good: `root`, a live node of it, takes it over (see ClusterClient.takeover). */
  takeover(root: string): Promise<UpdateView>;
  link(a: NodeId, b: NodeId): Promise<void>;
  /** With one side down, the live side unlinks and `pending` names the other: it drops the link when it restarts (durable). */
  unlink(a: NodeId, b: NodeId): Promise<UnlinkOutcome>;
  /**
   * Unlink the node from its neighbours, then stop its process (its trace is kept). A node that is down is destroyed
   * too: its live neighbours unlink it, its store is cleared when on this machine; one not answering is refused.
   */
  destroy(node: NodeId): Promise<DestroyOutcome>;
  /**
   * A node lost for good (its process dead, its store gone): destroyed where it lies, also during an update, which
   * aborts in prepare and goes on without it past prepare. Refused (ForgetRefusedError) for a running node, one that
   * does not answer, and the running update's root (takeover). See ClusterClient.forget.
   */
  forget(node: NodeId, opts?: { readonly settleMs?: number }): Promise<ForgetOutcome>;
  /**
   * Every node's trace and the control plane's, merged in Lamport order. When trace retention (`traceRetention:` in
   * the cluster file) dropped the oldest part of some node's trace, it starts at the horizon where every node's part
   * is complete: traceFromHorizon() says where, and what was dropped and left out.
   */
  trace(): Promise<TraceEvent[]>;
  /** Ours: node `node`'s durable record as a signed portable file (`ctl export`); the node keeps running. */
  exportRecord(node: NodeId): Promise<NodeRecordFile>;
  traceFromHorizon(): Promise<ClusterTrace>;
  /** The checker's verdict on that trace, taken as complete (from its horizon, if it has one). */
  check(): Promise<CheckReport>;
  /** Close every connection; calls after it reject with ClusterClientClosedError. */
  close(): void;
}

/**
 * Connect to a cluster: `connectCluster({ cluster: "cluster.yaml" })`, or
 * `connectCluster({ nodes: { r0: "10.0.0.1:7401" }, tls: { ca, cert, key } })`. Reads the configuration (and the
 * TLS files) now; connections open when first used, so a node down is reported by the call that needs it.
 */
export async function connectCluster(opts: ConnectOptions): Promise<ClusterConnection> {
  const common = {
    ...(opts.retry !== undefined ? { retry: opts.retry } : {}),
    ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
    ...(opts.commandTimeoutMs !== undefined ? { commandTimeoutMs: opts.commandTimeoutMs } : {}),
  };
  if ("cluster" in opts) return new Connection(new ClusterClient(loadClusterFile(opts.cluster), common));
  const cluster = explicitCluster(opts.nodes, opts.codec);
  const tls = opts.tls === undefined ? undefined : { ca: pem(opts.tls.ca, "tls.ca"), cert: pem(opts.tls.cert, "tls.cert"), key: pem(opts.tls.key, "tls.key") };
  const client = new ClusterClient(cluster, {
    ...common,
    ...(tls !== undefined ? { tls } : {}),
    source: "the nodes given to connectCluster",
    traceKeep: resolve(opts.traceDir ?? ".liveswap-trace"),
  });
  return new Connection(client);
}

/** The nodes given by address, as the client needs them (no package: the client never runs node code). */
function explicitCluster(nodes: Readonly<Record<NodeId, string>>, codec: unknown = DEFAULT_CODEC): Cluster {
  const entries = Object.entries(nodes);
  if (entries.length === 0) throw new InvalidOptionError("nodes", "no node given; pass { nodes: { r0: \"host:port\", ... } } or { cluster: \"cluster.yaml\" }");
  for (const [id, address] of entries) parseAddress(address, `nodes.${id}`);
  // Checked here too: a JavaScript caller's typo would otherwise surface as every node refusing the connection.
  if (!CODEC_NAMES.some((c) => c === codec)) throw new InvalidOptionError("codec", `${JSON.stringify(codec) ?? String(codec)} is no wire codec; give ${CODEC_NAMES.map((c) => `"${c}"`).join(" or ")}, as the cluster file's codec: says (default "${DEFAULT_CODEC}")`);
  return { file: "connectCluster", nodes: entries.map(([id, address]) => ({ id, address, package: "", behavior: "" })), links: [], codec: codec as CodecName };
}

/** PEM text given as such, or read from the path given. */
function pem(value: string, field: string): string {
  if (value.startsWith("-----BEGIN")) return value;
  try {
    return readFileSync(value, "utf8");
  } catch (e) {
    throw new InvalidOptionError(field, `cannot read ${value} (${messageOf(e)}); give a PEM file's path or the PEM text (\`liveswap keys init\` makes them)`);
  }
}

class Connection implements ClusterConnection {
  readonly nodes;
  constructor(private readonly client: ClusterClient) {
    this.nodes = client.cluster.nodes.map((n) => ({ id: n.id, address: n.address }));
  }
  async request<R = unknown>(node: NodeId, body: unknown, opts?: RequestOptions): Promise<R> {
    return (await this.client.request(node, body, opts)) as R;
  }
  status(opts?: StatusOptions): Promise<ClusterStatus> {
    return this.client.statusAll(opts);
  }
  nodeStatus(node: NodeId, opts?: StatusOptions): Promise<NodeStatus> {
    return this.client.status(node, opts);
  }
  update(pkg: string, opts: ClusterUpdateOptions): Promise<UpdateReport> {
    return this.client.update(pkg, opts);
  }
  submitUpdate(pkg: string, opts: Omit<ClusterUpdateOptions, "onProgress">): Promise<{ readonly id: number; readonly root: NodeId }> {
    return this.client.submitUpdate(pkg, opts);
  }
  watch(opts: WatchOptions = {}): Promise<UpdateReport> {
    return this.client.watch(opts);
  }
  updateView(): Promise<UpdateView | null> {
    return this.client.updateView();
  }
  abortUpdate(reason?: string): Promise<UpdateView> {
    return this.client.abortUpdate(reason);
  }
  takeover(root: string): Promise<UpdateView> {
    return this.client.takeover(root);
  }
  resumeUpdate(pkg: string, opts: { readonly onProgress?: (p: UpdateProgress) => void } = {}): Promise<UpdateReport> {
    return this.client.resumeUpdate(pkg, opts);
  }
  link(a: NodeId, b: NodeId): Promise<void> {
    return this.client.link(a, b);
  }
  unlink(a: NodeId, b: NodeId): Promise<UnlinkOutcome> {
    return this.client.unlink(a, b);
  }
  destroy(node: NodeId): Promise<DestroyOutcome> {
    return this.client.destroy(node);
  }
  forget(node: NodeId, opts: { readonly settleMs?: number } = {}): Promise<ForgetOutcome> {
    return this.client.forget(node, opts);
  }
  trace(): Promise<TraceEvent[]> {
    return this.client.trace();
  }
  exportRecord(node: NodeId): Promise<NodeRecordFile> {
    return this.client.exportRecord(node);
  }
  traceFromHorizon(): Promise<ClusterTrace> {
    return this.client.traceFromHorizon();
  }
  check(): Promise<CheckReport> {
    return this.client.check();
  }
  close(): void {
    this.client.close();
  }
}
