import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LiveswapError } from "../core/errors.js";

/** A key or certificate that cannot be made or read; the message names the file and how to make it. */
export class KeysError extends LiveswapError {
  readonly code = "KEYS";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

function openssl(args: readonly string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer };
    if (err.code === "ENOENT") throw new KeysError("`openssl` is not installed; TLS certificates need it (Debian: apt-get install openssl)");
    throw new KeysError(`openssl ${args[0]} failed: ${err.stderr?.toString().trim() ?? String(e)}`);
  }
}

/**
 * `liveswap keys init DIR`: the Ed25519 key pair that signs update packages
 * (signing.key stays with whoever packs; signing.pub goes in the cluster file),
 * and the cluster's TLS material: a CA, and for every node and for the control
 * plane a P-256 key and a certificate whose common name is its id.
 */
export function keysInit(dir: string, names: readonly string[], opts: { readonly force?: boolean } = {}): string[] {
  mkdirSync(dir, { recursive: true });
  if (!opts.force && existsSync(join(dir, "ca.key"))) throw new KeysError(`${dir} already holds keys (ca.key); pass --force to replace them`);
  const written: string[] = [];
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  writeFileSync(join(dir, "signing.key"), privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  writeFileSync(join(dir, "signing.pub"), publicKey.export({ type: "spki", format: "pem" }));
  written.push("signing.key", "signing.pub");
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650", "-subj", "/CN=liveswap-ca"], dir);
  written.push("ca.key", "ca.crt");
  for (const name of new Set([...names, "control"])) {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new KeysError(`"${name}" is not a node id (letters, digits, '_', '.', '-')`);
    openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`], dir);
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=DNS:${name},DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n`);
    openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.crt`, "-days", "825", "-extfile", `${name}.ext`], dir);
    written.push(`${name}.key`, `${name}.crt`);
  }
  return written;
}
