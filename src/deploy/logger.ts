/**
 * Operational logs of node daemons and ctl, separate from the trace (which records what the system did, for the
 * checker; a log says what the process did, for an operator): levels, and either human lines (the default, as a
 * terminal shows them) or JSON records (pino), one a line, for a log collector.
 */
import { pino } from "pino";
import { InvalidOptionError } from "../core/errors.js";

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Extra fields of a record (JSON only; a text line has the message alone). */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  readonly format?: LogFormat;
  readonly level?: LogLevel;
  /** Fields every record carries (`node`, `component`). */
  readonly base?: LogFields;
  /** Where text lines go (default stdout); JSON records go to file descriptor `fd` (default 1). */
  readonly write?: (line: string) => void;
  readonly fd?: number;
}

const rank = (l: LogLevel): number => LOG_LEVELS.indexOf(l);

export function makeLogger(o: LoggerOptions = {}): Logger {
  const level = o.level ?? "info";
  if (o.format === "json") {
    // Synchronous writes: a record written just before a crash (a failpoint, kill -9 right after) is not lost.
    const p = pino({ level, base: { pid: process.pid, ...o.base }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: o.fd ?? 1, sync: true }));
    return {
      debug: (msg, f) => p.debug(f ?? {}, msg),
      info: (msg, f) => p.info(f ?? {}, msg),
      warn: (msg, f) => p.warn(f ?? {}, msg),
      error: (msg, f) => p.error(f ?? {}, msg),
    };
  }
  const write = o.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const at = (l: LogLevel) => (msg: string): void => {
    if (rank(l) >= rank(level)) write(l === "info" ? msg : `${l}: ${msg}`);
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A logger whose every record is a line for `write` (the daemons' callers that pass a function). */
export function lineLogger(write: (line: string) => void): Logger {
  return makeLogger({ write });
}

export function logFormat(value: string): LogFormat {
  if (!(LOG_FORMATS as readonly string[]).includes(value)) throw new InvalidOptionError("--log-format", `"${value}" is not a log format; choose ${LOG_FORMATS.join(" or ")}`);
  return value as LogFormat;
}

export function logLevel(value: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(value)) throw new InvalidOptionError("--log-level", `"${value}" is not a log level; choose one of ${LOG_LEVELS.join(", ")}`);
  return value as LogLevel;
}
