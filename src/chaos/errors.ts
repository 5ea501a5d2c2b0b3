import { LiveswapError } from "../core/errors.js";

/**
 * A command that builds or cuts the chaos network (ip netns, ip link, tc) failed:
 * the message names the command, what it was for and the fix; the tool's own
 * words follow as a detail, never alone.
 */
export class ChaosNetworkError extends LiveswapError {
  readonly code = "CHAOS_NETWORK";
  constructor(
    readonly command: readonly string[],
    readonly purpose: string,
    readonly fix: string,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`chaos network: \`${command.join(" ")}\` failed while ${purpose}; ${fix}${detail === "" ? "" : ` (it said: ${detail})`}`, options);
  }
}

/** The chaos network was asked for something it cannot do as asked (a bad id or tag, a node it does not have, a closed network). */
export class ChaosNetworkUsageError extends LiveswapError {
  readonly code = "CHAOS_NETWORK_USAGE";
}
