import { LiveswapError } from "../core/errors.js";

/** A node process cannot start as its cluster file says (no such node, unreadable certificates, a package without the behavior). */
export class NodeConfigError extends LiveswapError {
  readonly code = "NODE_CONFIG";
}

export class NodeUnreachableError extends LiveswapError {
  readonly code = "NODE_UNREACHABLE";
  constructor(readonly node: string, address: string, cause: string) {
    super(`node "${node}" at ${address} cannot be reached (${cause}); is it running? (\`liveswap cluster up\` or \`liveswap node --id ${node}\`)`);
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
