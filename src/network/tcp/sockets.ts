import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import net from "node:net";
import tls from "node:tls";
import type { Duplex } from "node:stream";
import { LiveswapError } from "../../core/errors.js";

/** PEM texts for mutual TLS: every peer shows a certificate of the cluster's CA whose common name is its id. */
export interface TlsMaterial {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export class BadAddressError extends LiveswapError {
  readonly code = "BAD_ADDRESS";
  constructor(readonly address: string, where: string) {
    super(`${where}: "${address}" is not an address; write host:port, e.g. 127.0.0.1:7401`);
  }
}

/** A dial that did not connect (and finish its TLS handshake) in time. */
export class DialTimeoutError extends LiveswapError {
  readonly code = "DIAL_TIMEOUT";
  constructor(readonly address: string, readonly ms: number) {
    super(`no connection to ${address} within ${ms} ms (the host does not answer: down, or cut off by a partition)`);
  }
}

export function parseAddress(address: string, where = "address"): { readonly host: string; readonly port: number } {
  const i = address.lastIndexOf(":");
  const host = address.slice(0, i).replace(/^\[|\]$/g, "");
  const port = Number(address.slice(i + 1));
  if (i <= 0 || host === "" || !Number.isInteger(port) || port < 0 || port > 65535) throw new BadAddressError(address, where);
  return { host, port };
}

/** The common name of the certificate a TLS peer showed, or undefined on plain TCP. */
export function peerName(socket: Duplex): string | undefined {
  if (!(socket instanceof tls.TLSSocket)) return undefined;
  const cn = socket.getPeerCertificate().subject?.CN;
  return typeof cn === "string" ? cn : Array.isArray(cn) ? cn[0] : undefined;
}

/**
 * Listen on `address`. With TLS, a client without a certificate of our CA is
 * refused in the handshake (requestCert + rejectUnauthorized), before any byte
 * of ours reaches it.
 */
export function listen(address: string, material: TlsMaterial | undefined, onSocket: (s: Duplex) => void): Promise<net.Server> {
  const { host, port } = parseAddress(address, "listen");
  const server = material
    ? tls.createServer({ ca: material.ca, cert: material.cert, key: material.key, requestCert: true, rejectUnauthorized: true }, onSocket)
    : net.createServer(onSocket);
  server.on("tlsClientError", () => undefined); // a refused client: nothing to keep
  server.on(material ? "secureConnection" : "connection", (s: net.Socket) => {
    s.setNoDelay(true);
    s.setKeepAlive(true, 5000);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}

/**
 * Another way than TCP to carry a node's connections (the NATS transport: network/nats/nats-sockets.ts): raw duplex
 * streams that behave as TCP sockets do (in order or broken), at addresses of its own. TLS is laid over them here.
 */
export interface SocketTransport {
  connect(address: string, timeoutMs: number): Promise<Duplex>;
  serve(address: string, onSocket: (s: Duplex) => void): Promise<{ close(): Promise<void> }>;
}

/** What listenOn gives back: something to close. */
export interface Listening {
  close(): Promise<void>;
}

/** listen(), over TCP or over `transport` (TLS laid over its streams: the same mutual check as a TLS server's). */
export async function listenOn(address: string, material: TlsMaterial | undefined, onSocket: (s: Duplex) => void, transport?: SocketTransport): Promise<Listening> {
  if (transport === undefined) {
    const server = await listen(address, material, onSocket);
    return { close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }
  // One context for every connection of this listener (made from the PEMs once, as a TLS server makes its own).
  const secureContext = material !== undefined ? tls.createSecureContext({ ca: material.ca, cert: material.cert, key: material.key }) : undefined;
  return await transport.serve(address, (raw) => {
    if (secureContext === undefined) return onSocket(raw);
    const secure = new tls.TLSSocket(raw, { isServer: true, requestCert: true, rejectUnauthorized: true, secureContext });
    secure.once("secure", () => onSocket(secure));
    secure.on("error", () => secure.destroy()); // a refused client: nothing to keep
  });
}

/**
 * How long a dial may take, TLS handshake included. Across a partition a connect (or a handshake through a proxy that
 * accepted) hangs for minutes (the kernel's SYN retries); the dialler gives up and tries again, so it reconnects soon
 * after the heal.
 */
export const DIAL_TIMEOUT_MS = 10_000;

/** The code of a dial that did not complete within its bound (a host that drops packets, a stopped process). */
export const DIAL_TIMEOUT = "DIAL_TIMEOUT";

/**
 * Connect to `address`; with TLS, the server's certificate must name `expected` (its node id, or "control").
 * `timeoutMs` bounds the connect and the handshake (without it a host that drops packets takes minutes to fail).
 */
export async function dial(address: string, material: TlsMaterial | undefined, expected: string, timeoutMs = DIAL_TIMEOUT_MS, transport?: SocketTransport): Promise<Duplex> {
  if (transport === undefined) return await dialTcp(address, material, expected, timeoutMs);
  const raw = await transport.connect(address, timeoutMs);
  return material === undefined ? raw : await handshake(raw, address, material, expected, timeoutMs);
}

function dialTcp(address: string, material: TlsMaterial | undefined, expected: string, timeoutMs: number): Promise<Duplex> {
  const { host, port } = parseAddress(address, "dial");
  return new Promise((resolve, reject) => {
    const socket: Duplex = material
      ? tls.connect({
          host,
          port,
          ...tlsClient(address, material, expected),
        })
      : net.connect({ host, port });
    const ready = material ? "secureConnect" : "connect";
    const fail = (e: Error): void => {
      clearTimeout(timer);
      reject(e);
    };
    const timer = setTimeout(() => socket.destroy(new DialTimeoutError(address, timeoutMs)), timeoutMs);
    socket.once("error", fail);
    socket.once("close", () => clearTimeout(timer));
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.off("error", fail);
      if (socket instanceof net.Socket) {
        socket.setNoDelay(true);
        socket.setKeepAlive(true, 5000); // a peer that vanished without a FIN is noticed, and the channel reconnects
      }
      resolve(socket);
    });
  });
}

/** TLS over a stream another transport connected. */
function handshake(raw: Duplex, address: string, material: TlsMaterial, expected: string, timeoutMs: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ socket: raw, ...tlsClient(address, material, expected) });
    const timer = setTimeout(() => socket.destroy(new DialTimeoutError(address, timeoutMs)), timeoutMs);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      raw.destroy();
      reject(e);
    };
    // `on`, not `once`: a refused handshake can err twice (ours, then the other end's reset) and the second must not throw.
    socket.on("error", fail);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      socket.off("error", fail);
      resolve(socket);
    });
  });
}

function tlsClient(address: string, material: TlsMaterial, expected: string): tls.ConnectionOptions {
  return {
    ca: material.ca,
    cert: material.cert,
    key: material.key,
    checkServerIdentity: (_host, cert) =>
      cert.subject?.CN === expected ? undefined : new Error(`the server at ${address} showed a certificate for "${String(cert.subject?.CN)}", expected "${expected}"`),
  };
}

/**
 * What is wrong with TLS material, in words, before OpenSSL says it its way ("key values mismatch"): a PEM that is not
 * a certificate or a key, a key that is not the certificate's, a certificate the CA did not sign. `names` are the
 * files (or fields) the texts came from. Undefined when the material is sound.
 */
export function tlsMaterialProblem(m: TlsMaterial, names: { readonly ca: string; readonly cert: string; readonly key: string }): string | undefined {
  let ca: X509Certificate;
  let cert: X509Certificate;
  let key: KeyObject;
  try {
    ca = new X509Certificate(m.ca);
  } catch {
    return `the CA certificate ${names.ca} is not a PEM certificate ("-----BEGIN CERTIFICATE-----")`;
  }
  try {
    cert = new X509Certificate(m.cert);
  } catch {
    return `the certificate ${names.cert} is not a PEM certificate ("-----BEGIN CERTIFICATE-----")`;
  }
  try {
    key = createPrivateKey(m.key);
  } catch {
    return `the private key ${names.key} is not a PEM private key ("-----BEGIN PRIVATE KEY-----")`;
  }
  if (!cert.checkPrivateKey(key)) {
    return `the private key ${names.key} does not belong to the certificate ${names.cert}: give each certificate its own key (\`liveswap keys init\` writes NAME.crt beside NAME.key)`;
  }
  if (!cert.verify(ca.publicKey)) return `the certificate ${names.cert} is not signed by the cluster's CA ${names.ca}: make it with \`liveswap keys init\` from that CA`;
  return undefined;
}
