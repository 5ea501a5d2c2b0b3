import { LiveswapError } from "../core/errors.js";

/** A node process cannot start as its cluster file says (no such node, unreadable certificates, a package without the behavior). */
export class NodeConfigError extends LiveswapError {
  readonly code = "NODE_CONFIG";
}

/** A node that cannot be dialled, or whose connection closed before it answered; `reason` says which (see explainConnectionError). */
export class NodeUnreachableError extends LiveswapError {
  readonly code = "NODE_UNREACHABLE";
  constructor(readonly node: string, readonly address: string, readonly reason: string) {
    super(
      `node "${node}" at ${address} cannot be reached (${reason}). Check that it is running (\`liveswap cluster up\` or ` +
        `\`liveswap node --id ${node}\`), that ${address} is the address it listens on, and with TLS that both certificates come from the cluster's CA`,
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
      return "nothing listens there: connection refused";
    case "ECONNRESET":
    case "EPIPE":
      return tls ? "the connection was reset (during the TLS handshake this means a certificate was refused)" : "the connection was reset";
    case "ETIMEDOUT":
      return "the connection timed out: a firewall, or a wrong host";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "no route to that host";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "the host name does not resolve";
    default:
      if (typeof code === "string" && /^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED)/.test(code)) return `the TLS handshake failed (${raw})`;
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
