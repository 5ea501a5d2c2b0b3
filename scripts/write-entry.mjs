// The build compiles src/ (rootDir is the repository, for the package.json it reads), so tsc
// emits under dist/src/. The public contract says dist/index.js: re-export it there.
import { writeFileSync, chmodSync } from "node:fs";

writeFileSync("dist/index.js", 'export * from "./src/index.js";\n');
writeFileSync("dist/index.d.ts", 'export * from "./src/index.js";\n');
chmodSync("dist/src/cli/main.js", 0o755);
