import type { Behavior, Context } from "../core/behavior.js";
import type { AppEnvelope } from "../core/envelope.js";
import { ContextOutsideHandlerError, InvalidOptionError, NotNeighborError, UnknownRequestError, describeError } from "../core/errors.js";
import type { NodeId, RequestId } from "../core/ids.js";
import type { FaultSite } from "../core/trace/trace-event.js";

/** One event a node's program executes. */
export type NodeInput =
  | { readonly kind: "receive"; readonly env: AppEnvelope }
  | { readonly kind: "request"; readonly request: RequestId; readonly body: unknown }
  | { readonly kind: "timer"; readonly tag: string };

/** What a handler asked for; the runtime performs it after the handler returns. Arrays exist only when used. */
export interface Effects {
  /** `link` is the incarnation of the link the message leaves on, taken when the handler sent it. */
  sends: { readonly to: NodeId; readonly body: unknown; readonly link: number }[] | undefined;
  responses: { readonly request: RequestId; readonly result: unknown }[] | undefined;
  timers: { readonly delayMs: number; readonly tag: string }[] | undefined;
}

/** A handler threw (or is missing): the node kept its previous state and nothing it asked for happens. */
export class Fault {
  constructor(
    readonly during: FaultSite,
    readonly error: string,
    readonly cause: unknown,
  ) {}
}

/** What running a handler gives: its effects (undefined when it asked for none), or its fault. */
export type RunOutcome = Effects | undefined | Fault;

/** What a node needs to know of the world while a handler runs. */
export interface NodeSurroundings {
  now(): number;
  neighbors(node: NodeId): readonly NodeId[];
  /** The node's live links (neighbor -> link incarnation), updated in place by the topology. */
  linksOf(node: NodeId): ReadonlyMap<NodeId, number>;
  hasOpenRequest(node: NodeId, request: RequestId): boolean;
}

/**
 * The swap-enabled node (paper 3.1, after DUSC): the identity and the channels
 * belong to the wrapper and stay; the behavior (the code) and the state are
 * fields that an update replaces. A handler's effects are collected, not
 * performed, so a throwing handler leaves no trace but its fault.
 */
export class SwapNode {
  private collecting: Effects | undefined;
  private active = false;
  private readonly ctx: Context<unknown, unknown>;
  /** Live view of this node's links: one lookup per send instead of a walk through the whole topology. */
  private readonly links: ReadonlyMap<NodeId, number>;

  constructor(
    readonly id: NodeId,
    public behavior: Behavior,
    public state: unknown,
    public epoch: number,
    private readonly world: NodeSurroundings,
  ) {
    this.links = world.linksOf(id);
    this.ctx = this.makeContext();
  }

  get version(): string {
    return this.behavior.version;
  }

  /** Run init for a node created at this behavior. */
  initialize(): RunOutcome {
    this.collecting = undefined;
    this.active = true;
    try {
      this.state = this.behavior.init(this.ctx);
      return this.collecting;
    } catch (e) {
      return new Fault("init", describeError(e), e);
    } finally {
      this.active = false;
      this.collecting = undefined;
    }
  }

  /** Run the handler for one input. Written without closures: this is the simulator's hottest path. */
  run(input: NodeInput): RunOutcome {
    const b = this.behavior;
    const before = this.state;
    const ctx = this.ctx;
    this.collecting = undefined;
    this.active = true;
    try {
      switch (input.kind) {
        case "receive":
          this.state = b.receive(before, input.env.body, input.env.from, ctx);
          break;
        case "request":
          if (b.request === undefined) return new Fault("request", `behavior ${b.version} has no request handler`, undefined);
          this.state = b.request(before, input.body, input.request, ctx);
          break;
        case "timer":
          if (b.timer === undefined) return new Fault("timer", `behavior ${b.version} has no timer handler for tag "${input.tag}"`, undefined);
          this.state = b.timer(before, input.tag, ctx);
          break;
      }
      return this.collecting;
    } catch (e) {
      this.state = before;
      return new Fault(input.kind, describeError(e), e);
    } finally {
      this.active = false;
      this.collecting = undefined;
    }
  }

  /** Replace code and state; the caller has computed the new state. */
  swap(to: Behavior, state: unknown): void {
    this.behavior = to;
    this.state = state;
    this.epoch += 1;
  }

  private effects(): Effects {
    if (!this.active) throw new ContextOutsideHandlerError(this.id);
    this.collecting ??= { sends: undefined, responses: undefined, timers: undefined };
    return this.collecting;
  }

  private makeContext(): Context<unknown, unknown> {
    return new SwapNode.HandlerContext(this);
  }

  /**
   * A node's ctx: one small object, its getters on a shared prototype (a literal of getters and closures cost about
   * 750 bytes a node). Its functions are arrow fields, not prototype methods, so that a handler may take them off ctx
   * (`const { send } = ctx`) as it could before. Inside SwapNode so that it reaches the node's effects and links.
   */
  private static readonly HandlerContext = class HandlerContext implements Context<unknown, unknown> {
    constructor(private readonly node: SwapNode) {}

    get self(): NodeId {
      return this.node.id;
    }
    get now(): number {
      return this.node.world.now();
    }
    // The topology's frozen list, replaced when a link changes (one map lookup): a handler cannot change it.
    readonly neighbors = (): readonly NodeId[] => {
      return this.node.world.neighbors(this.node.id);
    };
    readonly send = (to: NodeId, msg: unknown): void => {
      const node = this.node;
      const fx = node.effects();
      const link = node.links.get(to);
      if (link === undefined) throw new NotNeighborError(node.id, to);
      (fx.sends ??= []).push({ to, body: msg, link });
    };
    readonly respond = (request: RequestId, result: unknown): void => {
      const node = this.node;
      const fx = node.effects();
      if (!node.world.hasOpenRequest(node.id, request) || fx.responses?.some((r) => r.request === request) === true) {
        throw new UnknownRequestError(node.id, request);
      }
      (fx.responses ??= []).push({ request, result });
    };
    readonly setTimer = (delayMs: number, tag: string): void => {
      const node = this.node;
      const fx = node.effects();
      if (!Number.isFinite(delayMs) || delayMs < 0) {
        throw new InvalidOptionError("setTimer delayMs", `node "${node.id}" asked for ${delayMs}; use a finite number >= 0`);
      }
      (fx.timers ??= []).push({ delayMs, tag: String(tag) });
    };
  };
}
