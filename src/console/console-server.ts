/**
 * The console's web server: the page, its state as JSON and as a live stream (server-sent events), and the abort
 * and resume buttons' endpoints. It asks its source only while a page listens to the stream (or asks once), so a
 * console nobody watches costs the cluster nothing. Access (http-access.ts): a token (the printed URL carries it
 * once; the page keeps it in an HttpOnly cookie) or a client certificate of the cluster's CA; never open.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { describeError } from "../core/errors.js";
import { pathOf, queryOf, startHttpEndpoint, type HttpAccess, type HttpEndpoint } from "../deploy/http-access.js";
import type { ConsoleSource, ConsoleState } from "./console-state.js";
import { consolePage } from "./console-page.js";

export interface ConsoleOptions {
  /** host:port (default 127.0.0.1:0: a free port on loopback). */
  readonly listen?: string;
  readonly access: HttpAccess;
  /** How often a watched console asks its source (ms, default 500). */
  readonly refreshMs?: number;
}

export interface ConsoleServer {
  readonly url: string;
  /** The URL to open: with the token, when there is one (the page then keeps it in a cookie). */
  readonly openUrl: string;
  close(): Promise<void>;
}

/** Largest resume package accepted (bytes). */
const MAX_BODY = 16 * 1024 * 1024;

export async function startConsole(source: ConsoleSource, o: ConsoleOptions): Promise<ConsoleServer> {
  const stream = new StateStream(source, o.refreshMs ?? 500);
  const secure = o.access.tls !== undefined;
  // The cookie is named after the token: a console started again (a new token) is not shadowed by its old cookie,
  // and two consoles on one host keep theirs apart.
  const cookie = o.access.token !== undefined ? `liveswap_token_${createHash("sha256").update(o.access.token).digest("hex").slice(0, 12)}` : "liveswap_token";
  const access: HttpAccess = { ...o.access, cookie, ...(o.access.tls !== undefined ? { tls: { client: "control", ...o.access.tls } } : {}) };
  const ep: HttpEndpoint = await startHttpEndpoint("the console", o.listen ?? "127.0.0.1:0", access, (req, res) => route(req, res, { source, stream, secure, cookie }));
  return {
    url: ep.url,
    openUrl: o.access.token !== undefined ? `${ep.url}/?token=${encodeURIComponent(o.access.token)}` : ep.url,
    close: async () => {
      stream.close();
      await ep.close();
      await source.close();
    },
  };
}

interface Route {
  readonly source: ConsoleSource;
  readonly stream: StateStream;
  readonly secure: boolean;
  readonly cookie: string;
}

async function route(req: IncomingMessage, res: ServerResponse, r: Route): Promise<void> {
  const { source, stream } = r;
  const path = pathOf(req.url);
  if (req.method === "GET" && path === "/") {
    const token = queryOf(req.url).get("token");
    if (token !== null) {
      // The token moves from the URL (history, logs) into a cookie only this page's requests carry.
      res.writeHead(303, { location: "/", "set-cookie": `${r.cookie}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/${r.secure ? "; Secure" : ""}` });
      return void res.end();
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "content-security-policy": "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:" });
    return void res.end(consolePage());
  }
  if (req.method === "GET" && path === "/api/state") {
    const state = await source.state();
    stream.settle();
    return json(res, 200, state);
  }
  if (req.method === "GET" && path === "/api/events") return stream.add(res);
  if (req.method === "POST" && (path === "/api/abort" || path === "/api/resume")) {
    // Only the page's own script sends this header (a form or a link from elsewhere cannot).
    if (req.headers["x-liveswap-console"] !== "1") return json(res, 403, { ok: false, error: "a console action needs the X-Liveswap-Console: 1 header (the page sends it)" });
    try {
      const message = path === "/api/abort" ? await source.abort() : await source.resume(await body(req));
      return json(res, 200, { ok: true, message });
    } catch (e) {
      return json(res, 409, { ok: false, error: describeError(e) });
    }
  }
  json(res, 404, { ok: false, error: `no ${req.method ?? "?"} ${path} here: the console serves /, /api/state, /api/events, POST /api/abort and /api/resume` });
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(JSON.stringify(value));
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => {
      size += d.length;
      if (size > MAX_BODY) return req.destroy(new Error(`the package is over ${MAX_BODY} bytes`));
      parts.push(d);
    });
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", reject);
  });
}

/** A listener that has not taken this much of what was sent (a sleeping laptop, a stalled link) is let go. */
const MAX_BACKLOG = 4 * 1024 * 1024;
/** The source's sessions are let go this long after the last page left (they heartbeat every node). */
const IDLE_MS = 30_000;

/**
 * The live stream: one poll loop, while at least one page listens, its states sent to every listener; a state's
 * diagram only to a listener that does not have it yet (it changes every few seconds, and is the bulk).
 */
class StateStream {
  private readonly listeners = new Map<ServerResponse, { diagram: string | undefined }>();
  private running = false;
  private closed = false;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly source: ConsoleSource,
    private readonly everyMs: number,
  ) {}

  add(res: ServerResponse): void {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
    res.write(": liveswap console\n\n");
    this.listeners.set(res, { diagram: undefined });
    clearTimeout(this.idleTimer);
    res.on("close", () => {
      this.listeners.delete(res);
      this.settle();
    });
    if (!this.running) void this.loop();
  }

  /** Nobody listens: after a while, the source lets its sessions go (a one-off /api/state too). */
  settle(): void {
    if (this.listeners.size > 0 || this.closed) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.source.idle?.(), IDLE_MS);
    this.idleTimer.unref();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.idleTimer);
    for (const r of this.listeners.keys()) r.end();
    this.listeners.clear();
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (!this.closed && this.listeners.size > 0) {
        const t0 = Date.now();
        let state: ConsoleState | undefined;
        let trouble: string | undefined;
        try {
          state = await this.source.state();
        } catch (e) {
          trouble = `event: trouble\ndata: ${JSON.stringify({ error: describeError(e) })}\n\n`;
        }
        for (const [r, seen] of this.listeners) this.send(r, seen, state, trouble);
        await new Promise((r) => setTimeout(r, Math.max(50, this.everyMs - (Date.now() - t0))));
      }
    } finally {
      this.running = false;
    }
  }

  private send(r: ServerResponse, seen: { diagram: string | undefined }, state: ConsoleState | undefined, trouble: string | undefined): void {
    if (r.writableLength > MAX_BACKLOG) {
      this.listeners.delete(r);
      r.destroy();
      return;
    }
    if (state === undefined) return void r.write(trouble ?? "");
    const same = seen.diagram === state.diagram;
    seen.diagram = state.diagram;
    r.write(`data: ${JSON.stringify(same ? { ...state, diagram: undefined } : state)}\n\n`);
  }
}

export type { ConsoleState };
