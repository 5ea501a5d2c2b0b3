/**
 * An HTTP(S) endpoint of liveswap's own (a node's metrics, the operator's console) with its access rule: plain HTTP
 * only on loopback and only with a token, or HTTPS with the cluster's certificates, where a client certificate of
 * the cluster's CA (the control certificate) or the token lets a request in. Nothing is ever open to anyone.
 */
import { createServer as createHttp, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttps } from "node:https";
import { timingSafeEqual } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { parseAddress, peerName } from "../network/tcp/sockets.js";
import { HttpAccessError } from "./errors.js";

export interface HttpAccess {
  /** Plain HTTP on loopback with neither token nor TLS is allowed (a node's metrics, as Prometheus scrapes by default). */
  readonly openOnLoopback?: boolean;
  /** A secret a request shows as `Authorization: Bearer TOKEN`, a `liveswap_token` cookie, or `?token=` (console). */
  readonly token?: string;
  /**
   * Serve HTTPS with this key and certificate; a client certificate signed by `ca` whose common name is `client`
   * (the cluster's control certificate: CN "control", the name the control plane itself requires) lets a request in.
   */
  readonly tls?: { readonly key: string; readonly cert: string; readonly ca: string; readonly client?: string };
  /** The cookie that carries the token (default `liveswap_token`): one a port, so two consoles do not mix. */
  readonly cookie?: string;
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

/**
 * Does the request show the token (any of the ways it can: a stale cookie does not hide a good header or query), or
 * a client certificate the server verified against the cluster's CA, with the expected name? Never throws: a
 * malformed cookie or request line is a request not let in.
 */
export function allowed(req: IncomingMessage, access: HttpAccess): boolean {
  if (access.token === undefined && access.tls === undefined) return access.openOnLoopback === true && loopbackHost(req.headers.host);
  const socket = req.socket as Partial<TLSSocket>;
  if (access.tls !== undefined && socket.authorized === true && peerName(req.socket) === (access.tls.client ?? "control")) return true;
  const token = access.token;
  return token !== undefined && tokensOf(req, access.cookie ?? "liveswap_token").some((t) => same(t, token));
}

/** The Host header names loopback (an open endpoint refuses a DNS-rebinding page that reaches it by another name). */
function loopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.replace(/:\d+$/, "");
  return isLoopback(name);
}

/** Every token the request shows: the Authorization header, its cookie, the `token` query parameter. */
export function tokensOf(req: IncomingMessage, cookie: string): string[] {
  const out: string[] = [];
  const auth = req.headers.authorization;
  if (auth?.startsWith("Bearer ")) out.push(auth.slice(7).trim());
  const c = new RegExp(`(?:^|;\\s*)${cookie}=([^;]+)`).exec(req.headers.cookie ?? "")?.[1];
  if (c !== undefined) out.push(safeDecode(c));
  const q = queryOf(req.url).get("token");
  if (q !== null) out.push(q);
  return out;
}

/** The path of a request line, without its query (no URL parsing: `//` or `%zz` must not throw). */
export function pathOf(url: string | undefined): string {
  return (url ?? "/").split("?")[0] ?? "/";
}

/** The query of a request line, whatever its path looks like (`//`, `%zz`). */
export function queryOf(url: string | undefined): URLSearchParams {
  const i = (url ?? "").indexOf("?");
  return new URLSearchParams(i < 0 ? "" : (url ?? "").slice(i + 1));
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
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
    let ok = false;
    try {
      ok = allowed(req, access);
    } catch {
      ok = false; // a request this server cannot read is one it does not let in
    }
    if (!ok) {
      res.writeHead(401, { "content-type": "text/plain; charset=utf-8", "www-authenticate": 'Bearer realm="liveswap"' });
      res.end(`${what}: not let in. In a browser, open the URL the command printed (it carries the token once); a program shows Authorization: Bearer TOKEN, or the cluster's control certificate over HTTPS\n`);
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
