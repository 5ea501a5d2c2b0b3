#!/usr/bin/env node
import { messageOf } from "../core/errors.js";
import { configureFailpoints, FAILPOINTS_ENV } from "../core/failpoints.js";
import { quietOnClosedOutput } from "./closed-output.js";
import { buildProgram } from "./program.js";

quietOnClosedOutput(process.argv[2] === "node");

Promise.resolve()
  .then(() => {
    // Read once, before any command runs: a bad spec stops the process here, with the grammar, instead of a test
    // waiting for a crash that never comes.
    configureFailpoints(process.env[FAILPOINTS_ENV]);
    return buildProgram().parseAsync(process.argv);
  })
  .catch((e: unknown) => {
    process.stderr.write(`liveswap: ${messageOf(e)}\n`);
    process.exitCode = 2;
  });
