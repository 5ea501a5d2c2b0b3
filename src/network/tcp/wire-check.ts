/**
 * What a frame must look like before anything above the connection sees it. A peer is authenticated (its
 * certificate) but not trusted to be well: a bug, a newer build or a tampered process may send a frame of a kind we
 * do not know, a sequence number that is not one, or an envelope missing its fields. Each is refused here with a
 * BadFrameError that says what was wrong; the connection closes with that reason (the node logs it, naming the
 * peer), and a neighbour's channel reconnects and resends from what was applied. Nothing malformed reaches the node
 * host, where it would throw in the middle of a step.
 */
import { LiveswapError } from "../../core/errors.js";
import type { WireMessage } from "./protocol.js";

/** A frame that decodes but is not a message of this protocol; the message says which field is wrong and how. */
export class BadFrameError extends LiveswapError {
  readonly code = "BAD_FRAME";
}

/** The longest id (node, channel, session, message) a frame may carry: far above any real one, far below a frame. */
const MAX_ID = 1024;

type Rec = Readonly<Record<string, unknown>>;
type Check = (m: Rec) => void;

function bad(detail: string): never {
  throw new BadFrameError(detail);
}

function obj(v: unknown, what: string): Rec {
  if (v === null || typeof v !== "object" || Array.isArray(v)) bad(`${what} is ${describe(v)}, not an object`);
  return v as Rec;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === "number") return `the number ${v}`;
  return typeof v === "undefined" ? "missing" : `a ${typeof v}`;
}

function id(m: Rec, field: string, optional = false): void {
  const v = m[field];
  if (optional && v === undefined) return;
  if (typeof v !== "string" || v.length === 0 || v.length > MAX_ID) bad(`"${field}" is ${describe(v)}, not an id (a string of 1 to ${MAX_ID} characters)`);
}

function str(m: Rec, field: string, optional = false): void {
  const v = m[field];
  if (optional && v === undefined) return;
  if (typeof v !== "string") bad(`"${field}" is ${describe(v)}, not a string`);
}

/** A whole number from `min` up to 2^53 - 1 (a sequence number, a counter). */
function whole(m: Rec, field: string, min: number, optional = false): void {
  const v = m[field];
  if (optional && v === undefined) return;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) bad(`"${field}" is ${describe(v)}, not a whole number of at least ${min}`);
}

function finite(m: Rec, field: string): void {
  const v = m[field];
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) bad(`"${field}" is ${describe(v)}, not a non-negative number`);
}

function oneOf(m: Rec, field: string, values: readonly unknown[]): void {
  if (!values.includes(m[field])) bad(`"${field}" is ${describe(m[field])}, not one of ${values.map((v) => JSON.stringify(v)).join(", ")}`);
}

/** An envelope on a data channel or the control plane: the fields the runtime reads before it looks at the body. */
export function checkEnvelope(v: unknown, where = "env"): void {
  const e = obj(v, `"${where}"`);
  try {
    oneOf(e, "kind", ["app", "control"]);
    id(e, "from");
    id(e, "to");
    whole(e, "link", 0);
    whole(e, "seq", 1, true);
    if (e.kind === "app") {
      id(e, "id");
      whole(e, "epoch", 0);
      if (!Object.hasOwn(e, "body")) bad(`"body" is missing`);
    } else {
      whole(e, "update", 0);
      if (typeof e.plane !== "boolean") bad(`"plane" is ${describe(e.plane)}, not true or false`);
      str(obj(e.msg, `"msg"`), "kind");
    }
  } catch (err) {
    if (err instanceof BadFrameError) bad(`in "${where}": ${err.message}`);
    throw err;
  }
}

/** One check per kind: the mapped type makes a new WireMessage kind a compile error until it is checked here. */
const CHECKS: { readonly [K in WireMessage["kind"]]: Check } = {
  hello: (m) => {
    id(m, "from");
    oneOf(m, "role", ["node", "control"]);
    whole(m, "recv", 0);
    id(m, "chan", true);
    id(m, "seen", true);
    whole(m, "format", 0, true);
    str(m, "codec", true);
  },
  refused: (m) => {
    id(m, "from");
    whole(m, "format", 0);
    str(m, "reason");
    str(m, "codec", true);
  },
  data: (m) => {
    whole(m, "seq", 1);
    finite(m, "lc");
    checkEnvelope(m.env);
  },
  ack: (m) => whole(m, "seq", 0),
  "plane-ack": (m) => {
    whole(m, "link", 0);
    whole(m, "seq", 0);
  },
  plane: (m) => {
    finite(m, "lc");
    checkEnvelope(m.env);
    if ((m.env as Rec).kind !== "control") bad(`"env" of a plane frame is ${describe((m.env as Rec).kind)}, not a control envelope`);
  },
  cmd: (m) => {
    whole(m, "id", 0);
    str(obj(m.cmd, `"cmd"`), "kind");
  },
  reply: (m) => {
    whole(m, "id", 0);
    if (m.ok === true) return;
    if (m.ok !== false) bad(`"ok" is ${describe(m.ok)}, not true or false`);
    str(m, "error");
    str(m, "code", true);
    str(m, "detail", true);
  },
  "trace-chunk": (m) => {
    whole(m, "id", 0);
    whole(m, "seq", 0);
    str(m, "text");
  },
};

/** `value` as a WireMessage, or a BadFrameError saying what is wrong with it (its kind first). */
export function checkWireMessage(value: unknown): WireMessage {
  const m = obj(value, "the frame");
  const kind = m.kind;
  if (typeof kind !== "string" || !Object.hasOwn(CHECKS, kind)) {
    bad(`a frame of kind ${describe(kind)}, which this protocol does not have (known: ${Object.keys(CHECKS).join(", ")})`);
  }
  try {
    CHECKS[kind as WireMessage["kind"]](m);
  } catch (err) {
    if (err instanceof BadFrameError) bad(`a "${kind}" frame: ${err.message}`);
    throw err;
  }
  return m as unknown as WireMessage;
}
