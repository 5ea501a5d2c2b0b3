/**
 * The console's web server: the page, its state as JSON and as a live stream (server-sent events), and the abort
 * and resume buttons' endpoints. It asks its source only while a page listens to the stream (or asks once), so a
 * console nobody watches costs the cluster nothing. Access (http-access.ts): a token (the printed URL carries it
 * once; the page keeps it in an HttpOnly cookie) or a client certificate of the cluster's CA; never open.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { describeError } from "../core/errors.js";
import { startHttpEndpoint, type HttpAccess, type HttpEndpoint } from "../deploy/http-access.js";
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
  let endpoint: HttpEndpoint | undefined;
  endpoint = await startHttpEndpoint("the console", o.listen ?? "127.0.0.1:0", o.access, (req, res) => route(req, res, source, stream, secure));
  const ep = endpoint;
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

async function route(req: IncomingMessage, res: ServerResponse, source: ConsoleSource, stream: StateStream, secure: boolean): Promise<void> {
  const url = new URL(req.url ?? "/", "http://console");
  const path = url.pathname;
  if (req.method === "GET" && path === "/") {
    const token = url.searchParams.get("token");
    if (token !== null) {
      // The token moves from the URL (history, logs) into a cookie only this page's requests carry.
      res.writeHead(303, { location: "/", "set-cookie": `liveswap_token=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/${secure ? "; Secure" : ""}` });
      return void res.end();
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "content-security-policy": "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:" });
    return void res.end(consolePage());
  }
  if (req.method === "GET" && path === "/api/state") return json(res, 200, await source.state());
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

/** The live stream: one poll loop, while at least one page listens, its states sent to every listener. */
class StateStream {
  private readonly listeners = new Set<ServerResponse>();
  private running = false;
  private closed = false;

  constructor(
    private readonly source: ConsoleSource,
    private readonly everyMs: number,
  ) {}

  add(res: ServerResponse): void {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
    res.write(": liveswap console\n\n");
    this.listeners.add(res);
    res.on("close", () => this.listeners.delete(res));
    if (!this.running) void this.loop();
  }

  close(): void {
    this.closed = true;
    for (const r of this.listeners) r.end();
    this.listeners.clear();
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (!this.closed && this.listeners.size > 0) {
        const t0 = Date.now();
        let event: string;
        try {
          event = `data: ${JSON.stringify(await this.source.state())}\n\n`;
        } catch (e) {
          event = `event: trouble\ndata: ${JSON.stringify({ error: describeError(e) })}\n\n`;
        }
        for (const r of this.listeners) r.write(event);
        await new Promise((r) => setTimeout(r, Math.max(50, this.everyMs - (Date.now() - t0))));
      }
    } finally {
      this.running = false;
    }
  }
}

export type { ConsoleState };
