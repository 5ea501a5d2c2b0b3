/**
 * An HTTP(S) endpoint of liveswap's own (a node's metrics, the operator's console) with its access rule: plain HTTP
 * only on loopback and only with a token, or HTTPS with the cluster's certificates, where a client certificate of
 * the cluster's CA (the control certificate) or the token lets a request in. Nothing is ever open to anyone.
 */
import { createServer as createHttp, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttps } from "node:https";
import { timingSafeEqual } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { parseAddress } from "../network/tcp/sockets.js";
import { HttpAccessError } from "./errors.js";

export interface HttpAccess {
  /** Plain HTTP on loopback with neither token nor TLS is allowed (a node's metrics, as Prometheus scrapes by default). */
  readonly openOnLoopback?: boolean;
  /** A secret a request shows as `Authorization: Bearer TOKEN`, a `liveswap_token` cookie, or `?token=` (console). */
  readonly token?: string;
  /** Serve HTTPS with this key and certificate; a client certificate signed by `ca` lets a request in. */
  readonly tls?: { readonly key: string; readonly cert: string; readonly ca: string };
}

export interface HttpEndpoint {
  /** host:port it listens on (the port the kernel gave when 0 was asked). */
  readonly address: string;
  readonly url: string;
  close(): Promise<void>;
}

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** Is `host` a loopback address (127.0.0.0/8, ::1, localhost)? */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/** Refuse an access rule that would leave the endpoint open: what, where, and the fix. */
export function checkAccess(what: string, listen: string, access: HttpAccess): void {
  const { host } = parseAddress(listen, what);
  const open = access.token === undefined && access.tls === undefined;
  if (open && !(access.openOnLoopback === true && isLoopback(host))) throw new HttpAccessError(`${what} at ${listen} would be open to anyone; give it a token or the cluster's TLS (a client certificate of its CA)${access.openOnLoopback === true ? ", or listen on 127.0.0.1" : ""}`);
  if (!open && access.tls === undefined && !isLoopback(host)) throw new HttpAccessError(`${what} at ${listen} is not on loopback and has no TLS: a token would cross the network in clear; give the cluster \`tls:\` or listen on 127.0.0.1`);
  if (access.token !== undefined && access.token.length < 16) throw new HttpAccessError(`${what}: the token is ${access.token.length} characters; give one of 16 or more (\`openssl rand -hex 16\`)`);
}

/** Does the request show the token, or a client certificate the server verified against the cluster's CA? */
export function allowed(req: IncomingMessage, access: HttpAccess): boolean {
  if (access.token === undefined && access.tls === undefined) return access.openOnLoopback === true;
  const socket = req.socket as Partial<TLSSocket>;
  if (access.tls !== undefined && socket.authorized === true) return true;
  if (access.token === undefined) return false;
  const shown = tokenOf(req);
  return shown !== undefined && same(shown, access.token);
}

function tokenOf(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith("Bearer ")) return auth.slice(7).trim();
  const cookie = /(?:^|;\s*)liveswap_token=([^;]+)/.exec(req.headers.cookie ?? "")?.[1];
  if (cookie !== undefined) return decodeURIComponent(cookie);
  return new URL(req.url ?? "/", "http://x").searchParams.get("token") ?? undefined;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Listen at `listen` with `access` (checked first); every request not allowed gets 401 and nothing else. */
export async function startHttpEndpoint(what: string, listen: string, access: HttpAccess, handler: HttpHandler): Promise<HttpEndpoint> {
  checkAccess(what, listen, access);
  const { host, port } = parseAddress(listen, what);
  const serve = (req: IncomingMessage, res: ServerResponse): void => {
    if (!allowed(req, access)) {
      res.writeHead(401, { "content-type": "text/plain; charset=utf-8", "www-authenticate": 'Bearer realm="liveswap"' });
      res.end(`${what}: show the token (Authorization: Bearer TOKEN) or a client certificate of the cluster's CA\n`);
      return;
    }
    Promise.resolve(handler(req, res)).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
      res.end(`${what}: ${e instanceof Error ? e.message : String(e)}\n`);
    });
  };
  const t = access.tls;
  const server = t !== undefined ? createHttps({ key: t.key, cert: t.cert, ca: t.ca, requestCert: true, rejectUnauthorized: false }, serve) : createHttp(serve);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => reject(new HttpAccessError(`${what} cannot listen at ${listen}: ${e.code === "EADDRINUSE" ? "the address is taken; choose another port" : e.message}`)));
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  const at = typeof bound === "object" && bound !== null ? `${host}:${bound.port}` : listen;
  return {
    address: at,
    url: `${t !== undefined ? "https" : "http"}://${at}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
