/** A node's name in the system. Plain string: the public contract fixes it. */
export type NodeId = string;
/** An outside request's id, handed to the behavior so it can respond later. */
export type RequestId = string;
/**
 * An application message's id, unique in a run. Branded because message ids and
 * node ids are both strings and a trace full of both is easy to mix up.
 */
export type MessageId = string & { readonly __brand: "MessageId" };

export function messageId(raw: string): MessageId {
  return raw as MessageId;
}

/** The update coordinator's endpoint on the control plane; never a node id. */
export const CONTROL: NodeId = "@control";
