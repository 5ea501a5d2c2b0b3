/** Option parsers and the output sink shared by the commands, so that every command rejects a bad value with the same words. */
import { InvalidArgumentError } from "commander";
import { STRATEGIES, type Strategy } from "../core/update.js";

/** Where a command prints its results: stdout in the binary, a list in tests. */
export type Out = (line: string) => void;

export function integer(name: string, min: number): (value: string) => number {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number >= ${min}, got "${value}"`);
    return n;
  };
}

export function strategyList(value: string): Strategy[] {
  const names = value.split(",").map((s) => s.trim());
  for (const s of names) {
    if (!STRATEGIES.includes(s as Strategy)) throw new InvalidArgumentError(`unknown strategy "${s}"; one of ${STRATEGIES.join(", ")}`);
  }
  return names as Strategy[];
}

export function oneStrategy(value: string): Strategy {
  const [s, ...rest] = strategyList(value);
  if (s === undefined || rest.length > 0) throw new InvalidArgumentError(`expected one strategy, got "${value}"`);
  return s;
}

/** A JSON argument, or a bare word taken as a string. */
export function jsonArg(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
