/** `liveswap pack`: bundle and sign an update package. */
import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { pack } from "../../deploy/update-package.js";
import type { Out } from "../options.js";

export function registerPack(program: Command, out: Out): void {
  program
    .command("pack")
    .argument("<entry>", "a module exporting `update` (or `behaviors`)")
    .requiredOption("-o, --out <file>", "the package file to write")
    .option("--key <file>", "the Ed25519 signing key (signing.key from `liveswap keys init`); without it the package is unsigned")
    .option("--name <name>", "the package's name (default: the entry's file name)")
    .description("bundle an update module with esbuild and sign its manifest")
    .action(async (entry: string, o: { out: string; key?: string; name?: string }) => {
      const p = await pack(entry, { ...(o.key !== undefined ? { key: o.key } : {}), ...(o.name !== undefined ? { name: o.name } : {}) });
      writeFileSync(o.out, JSON.stringify(p));
      const what = p.manifest.kind === "update" ? `${String(p.manifest.from)} -> ${String(p.manifest.to)}` : `behaviors ${Object.keys(p.manifest.behaviors ?? {}).join(", ")}`;
      out(`${o.out}: ${p.manifest.name} (${what}), sha256 ${p.manifest.sha256.slice(0, 16)}..., ${p.signature ? "signed" : "UNSIGNED"}`);
    });
}
