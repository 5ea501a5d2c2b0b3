import type { Behavior, Context } from "../core/behavior.js";
import type { AppEnvelope } from "../core/envelope.js";
import { InvalidOptionError, NotNeighborError, UnknownRequestError, describeError } from "../core/errors.js";
import type { NodeId, RequestId } from "../core/ids.js";
import type { FaultSite } from "../check/trace-event.js";

/** One event a node's program executes. */
export type NodeInput =
  | { readonly kind: "receive"; readonly env: AppEnvelope }
  | { readonly kind: "request"; readonly request: RequestId; readonly body: unknown }
  | { readonly kind: "timer"; readonly tag: string };

/** What a handler asked for; the runtime performs it after the handler returns. */
export interface Effects {
  sends: { readonly to: NodeId; readonly body: unknown }[];
  responses: { readonly request: RequestId; readonly result: unknown }[];
  timers: { readonly delayMs: number; readonly tag: string }[];
}

export type RunOutcome =
  | { readonly ok: true; readonly effects: Effects | undefined }
  | { readonly ok: false; readonly during: FaultSite; readonly error: string; readonly cause: unknown };

/** What a node needs to know of the world while a handler runs. */
export interface NodeSurroundings {
  now(): number;
  neighbors(node: NodeId): readonly NodeId[];
  isLinked(a: NodeId, b: NodeId): boolean;
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

  constructor(
    readonly id: NodeId,
    public behavior: Behavior,
    public state: unknown,
    public epoch: number,
    private readonly world: NodeSurroundings,
  ) {
    this.ctx = this.makeContext();
  }

  get version(): string {
    return this.behavior.version;
  }

  /** Run init for a node created at this behavior. */
  initialize(): RunOutcome {
    return this.guard("init", () => {
      this.state = this.behavior.init(this.ctx);
    });
  }

  run(input: NodeInput): RunOutcome {
    const b = this.behavior;
    switch (input.kind) {
      case "receive":
        return this.guard("receive", () => {
          this.state = b.receive(this.state, input.env.body, input.env.from, this.ctx);
        });
      case "request": {
        const handler = b.request;
        if (handler === undefined) {
          return { ok: false, during: "request", error: `behavior ${b.version} has no request handler`, cause: undefined };
        }
        return this.guard("request", () => {
          this.state = handler.call(b, this.state, input.body, input.request, this.ctx);
        });
      }
      case "timer": {
        const handler = b.timer;
        if (handler === undefined) {
          return { ok: false, during: "timer", error: `behavior ${b.version} has no timer handler for tag "${input.tag}"`, cause: undefined };
        }
        return this.guard("timer", () => {
          this.state = handler.call(b, this.state, input.tag, this.ctx);
        });
      }
    }
  }

  /** Replace code and state; the caller has computed the new state. */
  swap(to: Behavior, state: unknown): void {
    this.behavior = to;
    this.state = state;
    this.epoch += 1;
  }

  private guard(during: FaultSite, body: () => void): RunOutcome {
    const before = this.state;
    this.collecting = undefined;
    this.active = true;
    try {
      body();
      return { ok: true, effects: this.collecting };
    } catch (e) {
      this.state = before;
      return { ok: false, during, error: describeError(e), cause: e };
    } finally {
      this.active = false;
      this.collecting = undefined;
    }
  }

  private effects(): Effects {
    if (!this.active) {
      throw new Error(`node "${this.id}": the context was used outside its handler; effects can only be requested while a handler runs`);
    }
    this.collecting ??= { sends: [], responses: [], timers: [] };
    return this.collecting;
  }

  private makeContext(): Context<unknown, unknown> {
    const node = this;
    const world = this.world;
    return {
      get self(): NodeId {
        return node.id;
      },
      get now(): number {
        return world.now();
      },
      neighbors: () => world.neighbors(node.id),
      send: (to: NodeId, msg: unknown) => {
        const fx = node.effects();
        if (!world.isLinked(node.id, to)) throw new NotNeighborError(node.id, to);
        fx.sends.push({ to, body: msg });
      },
      respond: (request: RequestId, result: unknown) => {
        const fx = node.effects();
        if (!world.hasOpenRequest(node.id, request) || fx.responses.some((r) => r.request === request)) {
          throw new UnknownRequestError(node.id, request);
        }
        fx.responses.push({ request, result });
      },
      setTimer: (delayMs: number, tag: string) => {
        const fx = node.effects();
        if (!Number.isFinite(delayMs) || delayMs < 0) {
          throw new InvalidOptionError("setTimer delayMs", `node "${node.id}" asked for ${delayMs}; use a finite number >= 0`);
        }
        fx.timers.push({ delayMs, tag: String(tag) });
      },
    };
  }
}
