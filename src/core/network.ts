import type { Envelope } from "./envelope.js";
import type { NodeId } from "./ids.js";

/**
 * What the layers above need of a network: a clock, FIFO channels and timers.
 * The simulated network implements it in virtual time; a TCP network will
 * implement it over sockets. Nothing above this interface knows which it has.
 */
export interface Network {
  now(): number;
  /** Put an envelope on the channel env.from -> env.to; channels are FIFO. */
  transmit(env: Envelope): void;
  /**
   * Fire `tag` at `node` after delayMs; `incarnation` tells a recreated (or restarted) node's timers from its
   * predecessor's. `timer` is the id the node chose (its own counter, so that a replay after a crash gives the same ids).
   */
  startTimer(node: NodeId, incarnation: number, delayMs: number, tag: string, timer: number): void;
}
