import type { SpanModel } from "./model-types.js";

/**
 * Messages held (or buffered) together share one span on a line: a message
 * joins the open span of its line and direction, the span closes when its last
 * message leaves (released, delivered, dropped).
 */
export class SpanTracker {
  private readonly of = new Map<string, SpanModel>();
  private readonly current = new Map<string, SpanModel>();
  private readonly members = new Map<SpanModel, number>();

  constructor(
    private readonly kind: SpanModel["kind"],
    private readonly spans: SpanModel[],
  ) {}

  join(id: string, node: string, peer: string, t: number): void {
    if (this.of.has(id)) return;
    const key = JSON.stringify([node, peer]);
    let sp = this.current.get(key);
    if (sp === undefined) {
      sp = { kind: this.kind, node, peer, from: t, to: t, open: true, messages: [] };
      this.spans.push(sp);
      this.current.set(key, sp);
      this.members.set(sp, 0);
    }
    sp.messages.push(id);
    this.of.set(id, sp);
    this.members.set(sp, (this.members.get(sp) ?? 0) + 1);
  }

  leave(id: string, t: number): void {
    const sp = this.of.get(id);
    if (sp === undefined) return;
    this.of.delete(id);
    this.shrink(sp, t);
  }

  /** A transform passes its message's place in the span on to the new-equivalents. */
  pass(id: string, into: readonly string[], t: number): void {
    const sp = this.of.get(id);
    if (sp === undefined) return;
    this.of.delete(id);
    for (const x of into) {
      if (this.of.has(x)) continue;
      this.of.set(x, sp);
      this.members.set(sp, (this.members.get(sp) ?? 0) + 1);
    }
    this.shrink(sp, t);
  }

  private shrink(sp: SpanModel, t: number): void {
    const left = (this.members.get(sp) ?? 1) - 1;
    this.members.set(sp, left);
    if (t > sp.to) sp.to = t;
    if (left > 0) return;
    sp.open = false;
    this.members.delete(sp);
    const key = JSON.stringify([sp.node, sp.peer]);
    if (this.current.get(key) === sp) this.current.delete(key);
  }
}
