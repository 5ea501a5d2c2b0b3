/**
 * One NATS connection of a liveswap process, made from the cluster file's `transport:` (servers, credentials, TLS to
 * the server), with errors that name what is wrong and the fix instead of the client library's codes.
 */
import { connect, credsAuthenticator, tokenAuthenticator, type NatsConnection } from "nats";
import { NatsTransportError } from "./errors.js";

export interface NatsConnectOptions {
  /** NATS servers (`nats://host:4222`, `tls://host:4222`), tried in turn. */
  readonly servers: readonly string[];
  /** The connection's name, as the server's monitoring shows it. */
  readonly name: string;
  /** The text of a NATS credentials file (`.creds`: a user JWT and its nkey seed). */
  readonly credentials?: string;
  /** A token the server requires (`nats-server --auth TOKEN`). */
  readonly token?: string;
  /** PEM texts for TLS to the server: its CA, and a client certificate when the server asks for one. */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
}

/** Reconnection never gives up: a server restart or a failover is waited out, and what rides on it notices. */
export async function openNats(o: NatsConnectOptions): Promise<NatsConnection> {
  const where = o.servers.join(", ");
  const authenticator = o.credentials !== undefined ? credsAuthenticator(new TextEncoder().encode(o.credentials)) : o.token !== undefined ? tokenAuthenticator(o.token) : undefined;
  try {
    return await connect({
      servers: [...o.servers],
      name: o.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // A server that went away is noticed within seconds (pings), not at the kernel's TCP timeout.
      pingInterval: 5_000,
      maxPingOut: 2,
      ...(authenticator !== undefined ? { authenticator } : {}),
      ...(o.tls !== undefined ? { tls: { ...(o.tls.ca !== undefined ? { ca: o.tls.ca } : {}), ...(o.tls.cert !== undefined ? { cert: o.tls.cert } : {}), ...(o.tls.key !== undefined ? { key: o.tls.key } : {}) } } : {}),
    });
  } catch (e) {
    throw new NatsTransportError(`cannot connect to NATS at ${where}: ${natsReason(e)}`, { cause: e });
  }
}

/** The client's error in words, with the fix. */
function natsReason(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  const text = e instanceof Error ? e.message : String(e);
  if (code === "AUTHORIZATION_VIOLATION" || /authorization/i.test(text)) {
    return "the server refused our credentials; give the cluster file's `transport.credentials` (a .creds file) or `transport.tokenFile` the server expects";
  }
  if (code === "CONNECTION_REFUSED" || /ECONNREFUSED|CONNECTION_REFUSED/.test(text)) return "nothing listens there; start nats-server (with -js for JetStream) or fix `transport.servers`";
  if (/tls|certificate|ssl/i.test(text)) return `TLS to the server failed (${text}); check \`transport.tls\` (the server's CA, and a client certificate if it asks for one)`;
  return `${text}; check that nats-server runs there and \`transport.servers\` names it`;
}
