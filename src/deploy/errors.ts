import { LiveswapError, messageOf, UnknownNodeError } from "../core/errors.js";
import { DIAL_TIMEOUT } from "../network/tcp/sockets.js";
import { natsName } from "../network/nats/nats-sockets.js";

/** A node process cannot start as its cluster file says (no such node, unreadable certificates, a package without the behavior). */
export class NodeConfigError extends LiveswapError {
  readonly code = "NODE_CONFIG";
}

/** A node that cannot be dialled, or whose connection closed before it answered; `reason` says which (see explainConnectionError). */
export class NodeUnreachableError extends LiveswapError {
  readonly code: string = "NODE_UNREACHABLE";
  constructor(readonly node: string, readonly address: string, readonly reason: string) {
    super(
      `node "${node}" at ${address} cannot be reached (${reason}). Check that it is running (\`liveswap cluster up\` or ` +
        `\`liveswap node --id ${node}\`), ${natsName(address) !== undefined ? "that it reaches the NATS servers of the cluster file's `transport:` (its log says)" : `that ${address} is the address it listens on`}, and with TLS that both certificates come from the cluster's CA`,
    );
  }
}

/** A node refused a command: its own error, with the code it gave (REMOTE when it gave none). */
export class RemoteError extends LiveswapError {
  readonly code: string;
  constructor(readonly node: string, message: string, code: string | undefined) {
    super(message);
    this.code = code ?? "REMOTE";
  }
}

export class VersionMismatchLinkError extends LiveswapError {
  readonly code = "VERSION_MISMATCH_LINK";
  constructor(a: string, va: string, b: string, vb: string) {
    super(
      `link: "${a}" runs ${va} and "${b}" runs ${vb}; linking them would let each execute the other's messages. ` +
        `Start "${b}" (or "${a}") with the same behavior (edit \`behavior:\` in the cluster file), or update first`,
    );
  }
}

/** What a failed dial or a dropped connection means, in words: the socket's code alone (ECONNREFUSED) says little. */
export function explainConnectionError(e: unknown, tls: boolean): string {
  const code = (e as { code?: unknown } | undefined)?.code;
  const raw = e instanceof Error ? e.message : String(e);
  switch (code) {
    case "ECONNREFUSED":
      // Over NATS the dial's own words say it ("no process listens for node "r1" on NATS").
      return raw.startsWith("no process listens for node") ? raw : "nothing listens there: connection refused";
    case "ECONNRESET":
    case "EPIPE":
      return tls ? "the connection was reset (during the TLS handshake this means a certificate was refused)" : "the connection was reset";
    case "ETIMEDOUT":
      return "the connection timed out: a firewall, or a wrong host";
    case DIAL_TIMEOUT:
      return `${raw}: the host does not answer (a network cut, a firewall dropping packets, or a process that is stopped)`;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "no route to that host";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "the host name does not resolve";
    default:
      if (typeof code === "string" && /^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED)/.test(code)) return `the TLS handshake failed (${tlsInWords(code, raw)})`;
      return raw;
  }
}

/** A call on a cluster client after close(). */
export class ClusterClientClosedError extends LiveswapError {
  readonly code = "CLUSTER_CLIENT_CLOSED";
  constructor(operation: string) {
    super(`${operation}: this cluster client is closed (close() was called); connect again (connectCluster) to go on`);
  }
}

/**
 * A node refused a new outside request because its outbox to a neighbour is backed up (the neighbour is slow, frozen
 * or cut off) and the spill of its outboxes to disk is near its quota (cluster file `outbox.diskQuotaBytes`). Nothing
 * of the request ran; requests already accepted, their retries and all traffic between nodes go on. `detail`
 * carries what the client cannot know (the neighbour and the figures), so that it can rebuild this error.
 */
export class BusyError extends LiveswapError {
  readonly code = "BUSY";
  readonly detail: string;
  constructor(readonly node: string, readonly waitingOn: string, readonly spilledBytes: number, readonly quotaBytes: number) {
    super(
      `node "${node}" is busy: its outbox to "${waitingOn}" is backed up (${mib(spilledBytes)} of its ${mib(quotaBytes)} disk quota spilled) ` +
        `while it waits for "${waitingOn}" to acknowledge; the request was not accepted (nothing ran). Retry later, ` +
        `and check that "${waitingOn}" is running and reachable (\`liveswap ctl status\`)`,
    );
    this.detail = JSON.stringify({ waitingOn, spilledBytes, quotaBytes });
  }

  /** The error again from a node's reply (`detail`), or undefined if the detail is not one of ours. */
  static fromDetail(node: string, detail: string | undefined): BusyError | undefined {
    try {
      const d = JSON.parse(detail ?? "") as { waitingOn?: unknown; spilledBytes?: unknown; quotaBytes?: unknown };
      if (typeof d.waitingOn !== "string" || typeof d.spilledBytes !== "number" || typeof d.quotaBytes !== "number") return undefined;
      return new BusyError(node, d.waitingOn, d.spilledBytes, d.quotaBytes);
    } catch {
      return undefined;
    }
  }
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** OpenSSL's codes for what a certificate check refused, in words (the raw text stays in brackets for a search). */
function tlsInWords(code: string, raw: string): string {
  if (/SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY_LEAF/.test(code)) return `the certificate it showed is not signed by the cluster's CA [${code}]`;
  if (/CERT_HAS_EXPIRED/.test(code)) return `the certificate it showed has expired [${code}]`;
  if (/CERT_NOT_YET_VALID/.test(code)) return `the certificate it showed is not valid yet [${code}]`;
  return raw;
}

/**
 * A node that accepted the connection (or whose address swallows it) but did not answer within the bound: a process
 * that is stopped (SIGSTOP, a debugger), overloaded, or cut off by the network. It may still be running, so unlike a
 * node that refuses connections it is not taken for dead. A kind of NodeUnreachableError (a request retries it).
 */
export class NodeNotAnsweringError extends NodeUnreachableError {
  override readonly code = "NODE_NOT_ANSWERING";
  constructor(node: string, address: string, readonly afterMs: number) {
    super(node, address, `no answer within ${afterMs} ms`);
    this.message =
      `node "${node}" at ${address} did not answer within ${afterMs} ms: its process may be stopped or overloaded, or the ` +
      `network to it cut. See its log; give more time with --timeout (ctl) or timeoutMs`;
  }
}

/** `cluster up` (or `ctl create`) over nodes that already run: starting them again would orphan the running ones. */
export class ClusterRunningError extends LiveswapError {
  readonly code = "CLUSTER_RUNNING";
  constructor(readonly running: readonly { readonly id: string; readonly detail: string }[], file: string) {
    super(
      `${running.map((r) => `node "${r.id}" ${r.detail}`).join("; ")}. ${file} is already (partly) running: ` +
        `\`liveswap ctl --cluster ${file} status\` shows it; \`liveswap cluster down ${file}\` stops what \`up\` started` +
        (running.length === 1 ? ` (or \`ctl create\` it once it is stopped)` : ""),
    );
  }
}

/** A node that does not answer but may be alive: destroying it would clear a store under a running process. */
export class NodeAliveError extends LiveswapError {
  readonly code = "NODE_ALIVE";
  constructor(readonly node: string, operation: string, why: string) {
    super(`${operation}: node "${node}" does not answer, but ${why}; stop its process first (or let it answer), then ${operation} again`);
  }
}

/** A node id that is not in the cluster file (a typo in a command, `--root`, `ctl create`), naming the file and its nodes. */
export class UnknownClusterNodeError extends UnknownNodeError {
  constructor(node: string, where: string, file: string, known: readonly string[]) {
    super(node, where);
    this.message = `${where}: there is no node "${node}" in ${file} (it has: ${known.join(", ") || "none"}); check the spelling, or add the node to the file`;
  }
}

/** Why a file cannot be read, in words (the system's code, ENOENT and the like, says little to a new user). */
export function fileProblem(e: unknown): string {
  switch ((e as { code?: unknown } | undefined)?.code) {
    case "ENOENT":
      return "it does not exist";
    case "EACCES":
    case "EPERM":
      return "this user may not read it (permission denied)";
    case "EISDIR":
      return "it is a directory, not a file";
    case "ENOTDIR":
      return "a part of its path is not a directory";
    default:
      return messageOf(e);
  }
}

/** An HTTP endpoint of liveswap's (metrics, the console) cannot be served as asked: it would be open, or cannot listen. */
export class HttpAccessError extends LiveswapError {
  readonly code = "HTTP_ACCESS";
}
