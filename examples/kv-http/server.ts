// An HTTP service in front of a liveswap cluster: POST /kv/:key writes the body through a node, GET /kv/:key reads.
// A POST with an Idempotency-Key header is sent under a request id made from it, so a client that retries (the
// same key and body) gets the first write's answer and the value is written once; the cluster client itself
// retries a lost connection under the same id.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import {
  LiveswapError,
  NodeUnreachableError,
  RequestExpiredError,
  RequestIdReusedError,
  RequestTimeoutError,
  type ClusterConnection,
} from "liveswap/cluster";
import type { KvRequest, KvResponse } from "./kv.js";

export interface KvServerOptions {
  /** The node this service writes through and reads from (any replica: they converge). */
  readonly node: string;
  /** Per cluster request, retries included (default 10 s). */
  readonly timeoutMs?: number;
  /** The largest value accepted (default 64 KiB). */
  readonly maxBodyBytes?: number;
}

/** A refusal of the HTTP layer itself, with its status. */
class HttpError extends LiveswapError {
  readonly code = "HTTP";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function createKvServer(cluster: ClusterConnection, opts: KvServerOptions): Server {
  return createServer((req, res) => {
    handle(cluster, opts, req, res).catch((e: unknown) => reply(res, statusOf(e), { error: e instanceof Error ? e.message : String(e) }));
  });
}

async function handle(cluster: ClusterConnection, opts: KvServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = /^\/kv\/([^/]+)$/.exec(new URL(req.url ?? "/", "http://service").pathname);
  if (path === null) throw new HttpError(404, "no such route: use GET /kv/KEY or POST /kv/KEY");
  const key = decodeURIComponent(path[1] as string);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  if (req.method === "GET") {
    const found = await cluster.request<KvResponse>(opts.node, { kind: "get", key } satisfies KvRequest, { timeoutMs });
    if (found === null) throw new HttpError(404, `no value for key "${key}"`);
    return reply(res, 200, found);
  }
  if (req.method !== "POST") {
    res.setHeader("allow", "GET, POST");
    throw new HttpError(405, `${req.method ?? "?"} is not served here: use GET or POST`);
  }
  const value = await readBody(req, opts.maxBodyBytes ?? 65_536);
  const id = requestIdOf(req);
  const put: KvRequest = { kind: "put", key, value };
  return reply(res, 200, await cluster.request<KvResponse>(opts.node, put, { timeoutMs, ...(id !== undefined ? { id } : {}) }));
}

/**
 * The cluster request id of a POST: made from its Idempotency-Key, so the client's retries are one request. The key
 * and value travel in the request's body, so the same Idempotency-Key sent with another key or value is refused
 * (RequestIdReusedError, 422) rather than answered with the other write's result.
 */
function requestIdOf(req: IncomingMessage): string | undefined {
  const header = req.headers["idempotency-key"];
  if (header === undefined) return undefined;
  if (typeof header !== "string" || header === "" || header.length > 255) throw new HttpError(400, "Idempotency-Key must be one value of 1 to 255 characters");
  return `kv-put:${header}`;
}

async function readBody(req: IncomingMessage, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new HttpError(413, `the value is larger than ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** What the cluster's errors mean to an HTTP client (the message goes in the body). */
function statusOf(e: unknown): number {
  if (e instanceof HttpError) return e.status;
  if (e instanceof RequestIdReusedError) return 422; // the Idempotency-Key was used for another write
  if (e instanceof RequestExpiredError) return 409; // a retry too late to know whether the write happened
  if (e instanceof NodeUnreachableError) return 503;
  if (e instanceof RequestTimeoutError) return 504;
  return 500;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(`${JSON.stringify(body)}\n`);
}
