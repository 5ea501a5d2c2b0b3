/**
 * The one progress display of the benchmarks and the CLI: a bar when the
 * total is known, a counter when it is not, or a status line. It draws on
 * stderr only, and only on a terminal, so that stdout keeps the results
 * (--json lines stay parseable) and logs never fill with carriage returns.
 */

/** Called as work advances: `done` of `total` steps, or `done` alone when the total is unknown. */
export type ProgressStep = (done: number, total?: number) => void;

export interface ProgressDisplay {
  readonly step: ProgressStep;
  /** Replace the line with free text. */
  status(text: string): void;
  /** Leave the last line drawn in place and move to the next one. */
  end(): void;
}

export interface ProgressOptions {
  /** Default: stderr is a terminal. */
  readonly enabled?: boolean;
  readonly stream?: NodeJS.WritableStream;
}

const WIDTH = 30;

/** A display counting `unit` ("runs", "paths", ...), or undefined when progress should not be drawn. */
export function progressDisplay(unit: string, o: ProgressOptions = {}): ProgressDisplay | undefined {
  if (!(o.enabled ?? process.stderr.isTTY === true)) return undefined;
  const stream = o.stream ?? process.stderr;
  let drawn = false;
  const draw = (text: string): void => {
    drawn = true;
    stream.write(`\r\x1b[2K${text}`);
  };
  return {
    step(done, total) {
      if (total === undefined || total <= 0) return draw(`${done} ${unit}...`);
      const filled = Math.min(WIDTH, Math.round((done / total) * WIDTH));
      draw(`[${"#".repeat(filled)}${".".repeat(WIDTH - filled)}] ${done}/${total} ${unit}`);
    },
    status: draw,
    end() {
      if (drawn) stream.write("\n");
      drawn = false;
    },
  };
}
