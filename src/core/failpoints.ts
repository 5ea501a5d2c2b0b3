/**
 * Failpoints (FoundationDB's BUGGIFY, etcd's gofail): named points a process
 * passes at exact protocol steps, where a test makes it crash or stall instead
 * of racing a kill against the step. Off unless set: a pass costs one boolean
 * check. A process takes them from LIVESWAP_FAILPOINTS (read once at startup
 * by the CLI); an in-process test sets them with setFailpoint.
 */
import { writeSync } from "node:fs";
import { FailpointError, FailpointSpecError } from "./errors.js";

/**
 * Every point the code passes, one line each on where and when. A spec naming
 * another is refused: a typo would otherwise leave a test waiting for a crash
 * that never comes.
 */
export const FAILPOINTS = [
  // node-daemon.ts start: the starting code is loaded, nothing listens yet (a crash here: the node never answers).
  "daemon.after-load",
  // tcp-network.ts: a neighbour's data frame (in order, not a duplicate) or a control plane frame arrived, before the node gets it.
  "tcp.frame-received",
  // tcp-network.ts: a neighbour's connection came back (its hello taken after an earlier one), before the unacknowledged frames are resent.
  "tcp.reconnect",
  // node-daemon.ts: an envelope is handed to the node host, before the host runs it.
  "daemon.before-deliver",
  // node-daemon.ts: the node host returned from a delivered envelope (what it sent is written to the sockets).
  "daemon.after-deliver",
  // node-daemon.ts: a prepare from the coordinator arrived, before the node host sees it (then daemon.before-deliver).
  "daemon.prepare-received",
  // node-daemon.ts: a resume from the coordinator arrived, before the node host sees it.
  "daemon.resume-received",
  // node-daemon.ts: an abort from the coordinator arrived, before the node host sees it.
  "daemon.abort-received",
  // node-daemon.ts: the node host hands out an envelope (to a neighbour or the coordinator), before it is written.
  "daemon.before-send",
  // node-daemon.ts: the node reports "prepared" to the coordinator, before it is written (then daemon.before-send).
  "daemon.before-report-prepared",
  // node-daemon.ts: the node reports "swapped" (it turned new), before it is written (then daemon.before-send).
  "daemon.before-report-swapped",
  // node-daemon.ts: the node reports "done" (its part is over), before it is written (then daemon.before-send).
  "daemon.before-report-done",
  // update-service.ts (the root's daemon): a node's report arrived at the coordinator, before it is journaled.
  "coordinator.report-received",
  // update-service.ts: a coordinator input (begin, report, deadline, abort, resume) is journaled, before it runs.
  "coordinator.after-journal",
  // update-service.ts: the coordinator sends to a node (prepare, start, abort...), before it is written.
  "coordinator.before-send",
  // update-service.ts: the update completed or halted (the deciding input is journaled), before the update-end is traced
  // and the outcome saved for the watchers.
  "coordinator.before-update-end",
  // cluster-client.ts (ctl update / ctl watch): the watcher saw every node prepared.
  "ctl.watch-prepared",
  // cluster-client.ts (ctl update / ctl watch): the watcher saw the first node turn new.
  "ctl.watch-first-new",
  // node-moves.ts (the source of a move): "moving" is committed, before its record is handed over.
  "move.after-moving-commit",
  // node-import.ts (the destination of a move or an import): the record is written beside the store, before it is renamed into place.
  "import.before-rename",
  // cluster-move.ts (ctl move): the destination runs, before any neighbour is told.
  "ctl.move-started",
  // cluster-move.ts (ctl move): every neighbour was told, before the source is retired.
  "ctl.move-relocated",
] as const;

export type FailpointName = (typeof FAILPOINTS)[number];

/** The environment variable a process reads its failpoints from. */
export const FAILPOINTS_ENV = "LIVESWAP_FAILPOINTS";

/**
 * What a point does when passed, on every pass or on the `at`-th only (1 is
 * the first). `crash` is SIGKILL (nothing flushed, no exit handler: a crash,
 * not an exit); `stall` blocks the whole process synchronously, as a stuck one
 * would; `print` writes "failpoint <name>" to stderr; `throw` (in-process
 * tests only) throws a FailpointError.
 */
export type FailpointAction =
  | { readonly kind: "crash" | "print" | "throw"; readonly at?: number }
  | { readonly kind: "stall"; readonly ms: number; readonly at?: number };

const GRAMMAR =
  'point=action[@n] entries separated by ";", action one of crash, stall(<ms>), print (and throw in-process), ' +
  '@n firing on the n-th pass only (e.g. "daemon.after-load=crash;daemon.before-send=stall(2000)@3")';

interface Armed {
  readonly action: FailpointAction;
  passes: number;
}

const armed = new Map<string, Armed>();
/** The one check a pass costs when nothing is set. */
let anyArmed = false;

/** A point the process passes: nothing happens unless a test set it. */
export function failpoint(name: FailpointName): void {
  if (!anyArmed) return;
  fire(name);
}

function fire(name: FailpointName): void {
  const a = armed.get(name);
  if (a === undefined) return;
  a.passes++;
  if (a.action.at !== undefined && a.passes !== a.action.at) return;
  switch (a.action.kind) {
    case "crash":
      return crash(name);
    case "stall":
      return stall(a.action.ms);
    case "print":
      return say(`failpoint ${name}\n`);
    case "throw":
      throw new FailpointError(name);
  }
}

/** Straight to fd 2: the line is out before the next step, even if that step is a crash. */
function say(line: string): void {
  try {
    writeSync(2, line);
  } catch {
    process.stderr.write(line); // a full non-blocking pipe (EAGAIN): let the stream queue it
  }
}

function stall(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function crash(name: FailpointName): void {
  say(`failpoint ${name}: crash (SIGKILL)\n`);
  process.kill(process.pid, "SIGKILL");
  stall(Number.POSITIVE_INFINITY); // SIGKILL cannot be caught; nothing of ours runs after it even if delivery lags
}

/** Parse a spec (LIVESWAP_FAILPOINTS's grammar); throws FailpointSpecError naming the bad entry, the known points and the grammar. */
export function parseFailpoints(spec: string, source: string = FAILPOINTS_ENV, allowThrow = false): Map<FailpointName, FailpointAction> {
  const out = new Map<FailpointName, FailpointAction>();
  for (const raw of spec.split(";")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const eq = entry.indexOf("=");
    if (eq < 0) throw new FailpointSpecError(source, spec, `entry "${entry}" has no "=action"`, GRAMMAR);
    const name = checkName(entry.slice(0, eq).trim(), source, spec);
    if (out.has(name)) throw new FailpointSpecError(source, spec, `point "${name}" is set twice`, GRAMMAR);
    out.set(name, parseAction(entry.slice(eq + 1).trim(), source, spec, allowThrow));
  }
  return out;
}

function checkName(name: string, source: string, spec: string): FailpointName {
  if ((FAILPOINTS as readonly string[]).includes(name)) return name as FailpointName;
  throw new FailpointSpecError(source, spec, `no failpoint is named "${name}" (known: ${FAILPOINTS.join(", ")})`, GRAMMAR);
}

function parseAction(text: string, source: string, spec: string, allowThrow: boolean): FailpointAction {
  const m = /^([a-z]+)(?:\(([^)]*)\))?(?:@(.*))?$/.exec(text);
  const bad = (detail: string): FailpointSpecError => new FailpointSpecError(source, spec, detail, GRAMMAR);
  if (m === null) throw bad(`action "${text}" is malformed`);
  const [, kind, arg, count] = m;
  const at = count === undefined ? {} : { at: wholeNumber(count, 1, () => bad(`"@${count}" must be a pass number >= 1`)) };
  switch (kind) {
    case "stall":
      if (arg === undefined) throw bad(`stall needs its duration in ms: "stall(2000)"`);
      return { kind, ms: wholeNumber(arg, 0, () => bad(`stall(${arg}) needs a whole number of ms >= 0`)), ...at };
    case "crash":
    case "print":
    case "throw":
      if (arg !== undefined) throw bad(`${kind} takes no argument, got "${text}"`);
      if (kind === "throw" && !allowThrow) throw bad(`throw is for in-process tests (setFailpoint); a process takes crash, stall(ms) or print`);
      return { kind, ...at };
    default:
      throw bad(`unknown action "${String(kind)}"`);
  }
}

function wholeNumber(text: string, min: number, error: () => Error): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(n) || n < min) throw error();
  return n;
}

/** Replace every setting with the spec's (undefined or "" clears them); on a bad spec nothing changes. */
export function configureFailpoints(spec: string | undefined, source: string = FAILPOINTS_ENV): void {
  const parsed = parseFailpoints(spec ?? "", source);
  clearFailpoints();
  for (const [name, action] of parsed) armed.set(name, { action, passes: 0 });
  anyArmed = armed.size > 0;
}

/** Set one point for an in-process test: an action object, or its text as in the spec ("throw@2", "stall(50)"). */
export function setFailpoint(name: FailpointName, action: FailpointAction | string): void {
  const source = `setFailpoint("${name}")`;
  checkName(name, source, name);
  const parsed = typeof action === "string" ? parseAction(action, source, action, true) : action;
  armed.set(name, { action: parsed, passes: 0 });
  anyArmed = true;
}

export function clearFailpoints(): void {
  armed.clear();
  anyArmed = false;
}

/** What is set, in the spec's grammar (for a node's log: a run with failpoints says so). */
export function describeFailpoints(): string {
  return [...armed].map(([name, a]) => `${name}=${a.action.kind === "stall" ? `stall(${a.action.ms})` : a.action.kind}${a.action.at !== undefined ? `@${a.action.at}` : ""}`).join(";");
}
