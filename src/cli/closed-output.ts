/**
 * `liveswap ... | head -1`: once the reader of our output is gone, a write fails with EPIPE, and Node reports it as an
 * unhandled 'error' event with a stack trace. The output nobody reads is no failure of ours: a command exits quietly
 * (with the exit code it had so far); a node daemon (`liveswap node`) goes on serving, its log lines dropped.
 */
export function quietOnClosedOutput(keepRunning: boolean): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code !== "EPIPE" && e.code !== "ERR_STREAM_DESTROYED") {
        // Another failure to write (a full disk under a redirection): say it once where it can still be read.
        if (stream !== process.stderr) process.stderr.write(`liveswap: cannot write the output (${e.message})\n`);
        process.exit(2);
      }
      if (!keepRunning) process.exit();
    });
  }
}
