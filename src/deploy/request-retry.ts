import { InvalidOptionError } from "../core/errors.js";

/** How a cluster client retries an outside request whose connection was lost. */
export interface RetryPolicy {
  /** Attempts in all (the first included). */
  readonly attempts?: number;
  /** The wait after the first failed attempt (ms); it doubles after each further one. */
  readonly backoffMs?: number;
  /** The longest wait between two attempts (ms). */
  readonly maxBackoffMs?: number;
}

/**
 * 6 attempts, waits of about 100, 200, 400, 800, 1600 ms: about 3 s in all, enough for a dropped connection or a
 * node process restarting, short enough that a node really down is reported soon. Retries reuse the request's id,
 * so the node runs it once whatever the number of attempts that reached it.
 */
export const DEFAULT_RETRY: Required<RetryPolicy> = { attempts: 6, backoffMs: 100, maxBackoffMs: 2_000 };

/** A request unanswered this long (ms, retries included) rejects with RequestTimeoutError; it may still run. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/**
 * The wait after failed attempt number `attempt` (1-based): exponential, capped, with half of it random so that
 * clients cut off together do not all come back at the same instant. `random` is in [0, 1).
 */
export function backoffDelay(attempt: number, policy: Required<RetryPolicy>, random: () => number = Math.random): number {
  const full = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** (attempt - 1));
  return full / 2 + (full / 2) * random();
}

/** The policy with its defaults filled in; a bad value is refused, naming the field. */
export function retryPolicy(p: RetryPolicy | undefined): Required<RetryPolicy> {
  const out = { ...DEFAULT_RETRY, ...p };
  if (!Number.isInteger(out.attempts) || out.attempts < 1) throw new InvalidOptionError("retry.attempts", `must be a whole number >= 1, got ${out.attempts}`);
  for (const k of ["backoffMs", "maxBackoffMs"] as const) {
    if (!(out[k] >= 0)) throw new InvalidOptionError(`retry.${k}`, `must be a number of ms >= 0, got ${out[k]}`);
  }
  return out;
}
