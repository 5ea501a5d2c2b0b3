import { LiveswapError } from "../../core/errors.js";

/** The NATS transport cannot do what it was asked: NATS unreachable, no JetStream, a name NATS cannot carry. */
export class NatsTransportError extends LiveswapError {
  readonly code = "NATS_TRANSPORT";
}
