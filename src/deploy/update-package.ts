import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Behavior } from "../core/behavior.js";
import { describeError, InternalError, LiveswapError } from "../core/errors.js";
import type { Update } from "../core/update.js";
import { KeysError } from "./keys.js";

/**
 * An update package: the update module bundled into one ESM file, and a
 * manifest (what it converts, the code's sha256) signed with the cluster's
 * Ed25519 key. A node loads code only after the signature checks against the
 * key it trusts and the code hashes to what the manifest says.
 */
export interface PackageManifest {
  readonly format: "liveswap-package/1";
  /** "update": exports `update`; "behaviors": exports `behaviors` (a node's initial code). */
  readonly kind: "update" | "behaviors";
  readonly name: string;
  /** For an update: the versions it converts. */
  readonly from?: string;
  readonly to?: string;
  /** For behaviors: the versions it holds, by export name. */
  readonly behaviors?: Readonly<Record<string, string>>;
  readonly sha256: string;
}

export interface PackageFile {
  readonly manifest: PackageManifest;
  readonly code: string;
  /** Base64 Ed25519 signature of the manifest's canonical JSON; absent when unsigned. */
  readonly signature?: string;
}

export class PackageRefusedError extends LiveswapError {
  readonly code = "PACKAGE_REFUSED";
  constructor(readonly reason: string) {
    super(`update package refused: ${reason}`);
  }
}

/** A module (an entry to pack, or a package's code) that exports nothing liveswap can run. */
export class PackageContentsError extends LiveswapError {
  readonly code = "PACKAGE_CONTENTS";
  constructor(readonly module: string, detail: string) {
    super(`${module}: ${detail}`);
  }
}

/** The manifest's bytes as signed: keys sorted, no spaces. */
export function canonicalManifest(m: PackageManifest): Buffer {
  const sorted = Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return Buffer.from(JSON.stringify(sorted), "utf8");
}

export const sha256 = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex");

export function readKey(file: string, kind: "private" | "public"): KeyObject {
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (e) {
    throw new KeysError(`cannot read the ${kind} key ${file} (${describeError(e)}); make one with \`liveswap keys init DIR\``, { cause: e });
  }
  let key: KeyObject;
  try {
    key = kind === "private" ? createPrivateKey(pem) : createPublicKey(pem);
  } catch (e) {
    throw new KeysError(`${file} is not an Ed25519 ${kind} key in PEM (${describeError(e)}); make one with \`liveswap keys init DIR\``, { cause: e });
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new KeysError(`${file} is not an Ed25519 ${kind} key in PEM (it is a ${String(key.asymmetricKeyType)} key); make one with \`liveswap keys init DIR\``);
  }
  return key;
}

/** Bundle an entry module (TypeScript or JavaScript) into one ESM file with esbuild. */
export async function bundle(entry: string): Promise<string> {
  const esbuild = await import("esbuild");
  const out = await esbuild.build({
    entryPoints: [resolve(entry)],
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    write: false,
    logLevel: "silent",
  });
  const file = out.outputFiles[0];
  // One entry point, write: false: esbuild returns exactly one output file or throws itself.
  if (file === undefined) throw new InternalError(`esbuild produced nothing for ${entry}`);
  return file.text;
}

let privateDir: string | undefined;

/**
 * Import bundled code (after its checks). The file is written to a directory
 * private to this process (mkdtemp, mode 0700) every time: a shared or
 * pre-existing file could hold other code than the code just verified.
 */
export async function importCode(code: string): Promise<Record<string, unknown>> {
  privateDir ??= mkdtempSync(join(tmpdir(), "liveswap-pkg-"));
  const file = join(privateDir, `${sha256(code)}.mjs`);
  writeFileSync(file, code, { mode: 0o600 });
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}

function isUpdate(x: unknown): x is Update {
  const u = x as Partial<Update> | undefined;
  return typeof u === "object" && u !== null && typeof u.state === "function" && typeof u.from?.version === "string" && typeof u.to?.version === "string";
}

function isBehavior(x: unknown): x is Behavior {
  const b = x as Partial<Behavior> | undefined;
  return typeof b === "object" && b !== null && typeof b.version === "string" && typeof b.receive === "function" && typeof b.init === "function";
}

/** What a module exports that liveswap can run: its `update`, or its `behaviors`. */
export function moduleContents(mod: Record<string, unknown>, what: string): { update?: Update; behaviors?: Record<string, Behavior> } {
  const update = mod["update"] ?? (mod["default"] as Record<string, unknown> | undefined)?.["update"];
  const behaviors = mod["behaviors"] ?? (mod["default"] as Record<string, unknown> | undefined)?.["behaviors"];
  const out: { update?: Update; behaviors?: Record<string, Behavior> } = {};
  if (update !== undefined) {
    if (!isUpdate(update)) throw new PackageContentsError(what, "its `update` export is not an update (make it with defineUpdate)");
    out.update = update;
  }
  if (behaviors !== undefined) {
    if (typeof behaviors !== "object" || behaviors === null) throw new PackageContentsError(what, "`behaviors` must be an object of behaviors by name");
    for (const [k, b] of Object.entries(behaviors)) {
      if (!isBehavior(b)) throw new PackageContentsError(what, `behaviors.${k} is not a behavior (make it with defineBehavior)`);
    }
    out.behaviors = behaviors as Record<string, Behavior>;
  }
  if (out.update === undefined && out.behaviors === undefined) {
    throw new PackageContentsError(what, "exports neither `update` (made with defineUpdate) nor `behaviors` (an object of defineBehavior results by name)");
  }
  return out;
}

/** `liveswap pack`: bundle, describe, sign. */
export async function pack(entry: string, opts: { readonly key?: string; readonly name?: string }): Promise<PackageFile> {
  const code = await bundle(entry);
  const contents = moduleContents(await importCode(code), entry);
  const name = opts.name ?? entry.replace(/^.*[\\/]/, "").replace(/\.[cm]?[jt]s$/, "");
  const manifest: PackageManifest = contents.update
    ? { format: "liveswap-package/1", kind: "update", name, from: contents.update.from.version, to: contents.update.to.version, sha256: sha256(code) }
    : {
        format: "liveswap-package/1",
        kind: "behaviors",
        name,
        behaviors: Object.fromEntries(Object.entries(contents.behaviors ?? {}).map(([k, b]) => [k, b.version])),
        sha256: sha256(code),
      };
  if (opts.key === undefined) return { manifest, code };
  const signature = sign(null, canonicalManifest(manifest), readKey(opts.key, "private")).toString("base64");
  return { manifest, code, signature };
}

export function parsePackage(text: string, what = "package"): PackageFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new PackageRefusedError(`${what} is not a liveswap package (not JSON); make one with \`liveswap pack\``);
  }
  const p = raw as Partial<PackageFile>;
  if (typeof p !== "object" || p === null || typeof p.code !== "string" || typeof p.manifest !== "object" || p.manifest === null || p.manifest.format !== "liveswap-package/1") {
    throw new PackageRefusedError(`${what} is not a liveswap package (needs manifest, code); make one with \`liveswap pack\``);
  }
  return p as PackageFile;
}

/**
 * Check a package against the trusted key and load its code. Refuses, naming
 * why: unsigned, signed by another key (or manifest altered), code altered.
 */
export async function verifyAndLoad(pkg: PackageFile, trusted: KeyObject | undefined): Promise<{ update?: Update; behaviors?: Record<string, Behavior> }> {
  if (trusted === undefined) throw new PackageRefusedError("this node trusts no signing key (trust.signingKey in the cluster file), so it loads no package");
  if (pkg.signature === undefined || pkg.signature === "") throw new PackageRefusedError(`"${pkg.manifest.name}" is unsigned; sign it with \`liveswap pack --key\``);
  let ok = false;
  try {
    ok = verify(null, canonicalManifest(pkg.manifest), trusted, Buffer.from(pkg.signature, "base64"));
  } catch {
    ok = false;
  }
  if (!ok) throw new PackageRefusedError(`"${pkg.manifest.name}": the signature does not match the cluster's key (signed by another key, or the manifest was altered)`);
  if (sha256(pkg.code) !== pkg.manifest.sha256) throw new PackageRefusedError(`"${pkg.manifest.name}": the code does not match the signed sha256 (it was altered after signing)`);
  const contents = moduleContents(await importCode(pkg.code), `package "${pkg.manifest.name}"`);
  if (pkg.manifest.kind === "update") {
    const u = contents.update;
    if (u === undefined) throw new PackageRefusedError(`"${pkg.manifest.name}" says it is an update but exports no \`update\``);
    if (u.from.version !== pkg.manifest.from || u.to.version !== pkg.manifest.to) {
      throw new PackageRefusedError(`"${pkg.manifest.name}": its code converts ${u.from.version} -> ${u.to.version}, its manifest says ${String(pkg.manifest.from)} -> ${String(pkg.manifest.to)}`);
    }
  }
  return contents;
}
