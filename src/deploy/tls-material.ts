import { readFileSync } from "node:fs";
import { tlsMaterialProblem, type TlsMaterial } from "../network/tcp/sockets.js";
import type { Cluster } from "./cluster-file.js";
import { fileProblem, NodeConfigError } from "./errors.js";

/**
 * The PEM texts a process shows and trusts on a TLS cluster: the cluster's CA, and its certificate and key, checked
 * to belong together before OpenSSL says it its way.
 */
export function tlsFor(cluster: Cluster, certPath: string | undefined, keyPath: string | undefined): TlsMaterial | undefined {
  if (cluster.tls === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) throw new NodeConfigError("the cluster uses TLS: a certificate and key are needed");
  const read = (p: string, what: string): string => {
    try {
      return readFileSync(p, "utf8");
    } catch (e) {
      throw new NodeConfigError(`cannot read the ${what} ${p}: ${fileProblem(e)} (${cluster.file} names it); make them with \`liveswap keys init\``);
    }
  };
  const material = { ca: read(cluster.tls.ca, "CA certificate"), cert: read(certPath, "certificate"), key: read(keyPath, "private key") };
  const problem = tlsMaterialProblem(material, { ca: cluster.tls.ca, cert: certPath, key: keyPath });
  if (problem !== undefined) throw new NodeConfigError(`${cluster.file}: ${problem}`);
  return material;
}
