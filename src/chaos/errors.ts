import { LiveswapError } from "../core/errors.js";

/** A network fault could not be set up or undone (namespaces, veth, tc); the message names the command and the fix. */
export class ChaosNetworkError extends LiveswapError {
  readonly code = "CHAOS_NETWORK";
}
