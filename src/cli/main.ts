#!/usr/bin/env node
import { messageOf } from "../core/errors.js";
import { buildProgram } from "./program.js";

buildProgram()
  .parseAsync(process.argv)
  .catch((e: unknown) => {
    process.stderr.write(`liveswap: ${messageOf(e)}\n`);
    process.exitCode = 2;
  });
