/** Who may read a node's metrics, from the cluster file's `metricsAccess:` (see cluster-file.ts). */
import { readFileSync } from "node:fs";
import type { Cluster, ClusterNode } from "./cluster-file.js";
import { NodeConfigError } from "./errors.js";
import type { HttpAccess } from "./http-access.js";

export function metricsAccess(cluster: Cluster, node: ClusterNode): HttpAccess {
  const a = cluster.metricsAccess;
  if (a === undefined) return { openOnLoopback: true };
  const token = a.tokenFile !== undefined ? readSecret(a.tokenFile, `metricsAccess.tokenFile of ${cluster.file}`) : undefined;
  const tls = a.clientCert === true && cluster.tls !== undefined ? { key: readSecret(node.key ?? "", `node "${node.id}"'s key`), cert: readSecret(node.cert ?? "", `node "${node.id}"'s cert`), ca: readSecret(cluster.tls.ca, "the cluster's CA (tls.ca)") } : undefined;
  return { ...(token !== undefined ? { token } : {}), ...(tls !== undefined ? { tls } : {}) };
}

/** A file's text (trimmed), or an error naming the file and what it is for. */
export function readSecret(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    throw new NodeConfigError(`${what}: cannot read ${file === "" ? "(no file given)" : file} (${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : String(code)}); give a readable file`);
  }
}
