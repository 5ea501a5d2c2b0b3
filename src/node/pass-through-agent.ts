import type { AppEnvelope, ControlEnvelope } from "../core/envelope.js";
import type { RequestId } from "../core/ids.js";
import type { NodeAgent, NodePort } from "../update/strategy.js";

/** No update running: everything passes straight through, at no cost. */
export class DirectAgent implements NodeAgent {
  constructor(protected readonly node: NodePort) {}

  onSend(env: AppEnvelope): void {
    this.node.transmit(env);
  }

  onDeliver(env: AppEnvelope): void {
    this.node.execute({ kind: "receive", env });
  }

  onRequest(request: RequestId, body: unknown): void {
    this.node.execute({ kind: "request", request, body });
  }

  onTimer(tag: string): void {
    this.node.execute({ kind: "timer", tag });
  }

  fingerprint(): unknown {
    return null;
  }

  onControl(_env: ControlEnvelope): void {
    // A late control message of an update this node has finished (e.g. a duplicate marker): nothing to do.
  }
}
