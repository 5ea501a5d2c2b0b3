#!/usr/bin/env node
import { buildProgram } from "./program.js";

buildProgram()
  .parseAsync(process.argv)
  .catch((e: unknown) => {
    process.stderr.write(`liveswap: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 2;
  });
