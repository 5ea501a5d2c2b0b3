// The build compiles src/ and examples/ (the CLI's demo runs an example), so tsc
// emits under dist/src/. The public contract says dist/index.js: re-export it there.
import { writeFileSync, chmodSync } from "node:fs";

writeFileSync("dist/index.js", 'export * from "./src/index.js";\n');
writeFileSync("dist/index.d.ts", 'export * from "./src/index.js";\n');
chmodSync("dist/src/cli/main.js", 0o755);
