import type { ControlMessage } from "../core/control.js";
import type { AppEnvelope } from "../core/envelope.js";
import type { NodeId, RequestId } from "../core/ids.js";
import type { NodeAgent, NodePort } from "./agent.js";

/** No update running: everything passes straight through, at no cost. */
export class PassThroughAgent implements NodeAgent {
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

  /** Nothing of its own to keep. */
  snapshot(): unknown {
    return null;
  }

  onControl(_msg: ControlMessage, _from: NodeId): void {
    // A late control message of an update this node has finished (e.g. a duplicate marker): nothing to do.
  }
}
