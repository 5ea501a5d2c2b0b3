import { readFileSync } from "node:fs";
import { messageOf } from "../core/errors.js";
import type { TlsMaterial } from "../network/tcp/sockets.js";
import type { Cluster } from "./cluster-file.js";
import { NodeConfigError } from "./errors.js";

/** The PEM texts a process shows and trusts on a TLS cluster: the cluster's CA, and its certificate and key. */
export function tlsFor(cluster: Cluster, certPath: string | undefined, keyPath: string | undefined): TlsMaterial | undefined {
  if (cluster.tls === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) throw new NodeConfigError("the cluster uses TLS: a certificate and key are needed");
  const read = (p: string, what: string): string => {
    try {
      return readFileSync(p, "utf8");
    } catch (e) {
      throw new NodeConfigError(`cannot read the ${what} ${p} (${messageOf(e)}); make them with \`liveswap keys init\``);
    }
  };
  return { ca: read(cluster.tls.ca, "CA certificate"), cert: read(certPath, "certificate"), key: read(keyPath, "private key") };
}

