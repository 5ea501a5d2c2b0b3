import type { NodeId } from "./ids.js";

/** Every error the runtime raises on purpose; `code` is stable for programs, `message` names the thing and the fix. */
export abstract class LiveswapError extends Error {
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class UnknownNodeError extends LiveswapError {
  readonly code = "UNKNOWN_NODE";
  constructor(readonly node: NodeId, where: string) {
    super(`${where}: there is no node "${node}"; create it first (nodes: see system.nodes())`);
  }
}

export class DuplicateNodeError extends LiveswapError {
  readonly code = "DUPLICATE_NODE";
  constructor(readonly node: NodeId) {
    super(`create: a node "${node}" already exists; choose another id or destroy the old node first`);
  }
}

export class InvalidNodeIdError extends LiveswapError {
  readonly code = "INVALID_NODE_ID";
  constructor(readonly node: unknown) {
    super(`create: node id ${JSON.stringify(node)} is not valid; use a non-empty string not starting with "@"`);
  }
}

export class SelfLinkError extends LiveswapError {
  readonly code = "SELF_LINK";
  constructor(readonly node: NodeId) {
    super(`link: cannot link "${node}" to itself; a link joins two different nodes`);
  }
}

export class DuplicateLinkError extends LiveswapError {
  readonly code = "DUPLICATE_LINK";
  constructor(readonly a: NodeId, readonly b: NodeId) {
    super(`link: "${a}" and "${b}" are already linked`);
  }
}

export class UnknownLinkError extends LiveswapError {
  readonly code = "UNKNOWN_LINK";
  constructor(readonly a: NodeId, readonly b: NodeId) {
    super(`unlink: "${a}" and "${b}" are not linked`);
  }
}

export class NotNeighborError extends LiveswapError {
  readonly code = "NOT_NEIGHBOR";
  constructor(readonly from: NodeId, readonly to: NodeId) {
    super(`send: node "${from}" has no link to "${to}"; a node can only send to its neighbors (link them first)`);
  }
}

export class UpdateInProgressError extends LiveswapError {
  readonly code = "UPDATE_IN_PROGRESS";
  constructor(readonly operation: string, readonly update: number) {
    super(`${operation}: update #${update} is running; configuration and a second update wait until it ends (await the first update())`);
  }
}

export class UpdateHaltedInProgressError extends LiveswapError {
  readonly code = "UPDATE_HALTED_IN_PROGRESS";
  constructor(readonly operation: string, readonly update: number) {
    super(`${operation}: update #${update} is halted (a transfer threw at swap time); finish it first with resume() and a corrected transfer`);
  }
}

export class SynchronizerConfigurationError extends LiveswapError {
  readonly code = "SYNCHRONIZER_CONFIGURATION";
  constructor(readonly operation: string, readonly node: string, readonly pulse: number) {
    super(
      `${operation}: this system runs in pulses and node "${node}" is already at pulse ${pulse}; ` +
        "configure a synchronized system before its first pulse (before any request or timer)",
    );
  }
}

export class StrategyUnavailableError extends LiveswapError {
  readonly code = "STRATEGY_UNAVAILABLE";
  constructor(readonly strategy: string, reason: string) {
    super(`update: strategy "${strategy}" is not available: ${reason}`);
  }
}

export class VersionMismatchError extends LiveswapError {
  readonly code = "VERSION_MISMATCH";
  constructor(readonly node: NodeId, readonly running: string, readonly offered: readonly string[]) {
    super(
      `update: node "${node}" runs "${running}" but the update only converts from ${offered.map((v) => `"${v}"`).join(", ")}; ` +
        `add an update whose \`from\` is "${running}"`,
    );
  }
}

export class InvalidUpdateError extends LiveswapError {
  readonly code = "INVALID_UPDATE";
  constructor(detail: string) {
    super(`update: ${detail}`);
  }
}

export class PrepareFailedError extends LiveswapError {
  readonly code = "PREPARE_FAILED";
  constructor(readonly node: NodeId, readonly reason: string, options?: { cause?: unknown }) {
    super(`update aborted in prepare: node "${node}" refused it: ${reason}; no node was changed`, options);
  }
}

export class StateTransferError extends LiveswapError {
  readonly code = "STATE_TRANSFER_FAILED";
  constructor(readonly node: NodeId, reason: string, options?: { cause?: unknown }) {
    super(`update: the state transfer threw at node "${node}": ${reason}`, options);
  }
}

export class UpdateStalledError extends LiveswapError {
  readonly code = "UPDATE_STALLED";
  constructor(
    readonly update: number,
    readonly oldNodes: readonly NodeId[],
    /** New nodes whose part of the update never ended (their strategy still waits for something). */
    readonly unfinishedNodes: readonly NodeId[] = [],
  ) {
    const quote = (ns: readonly NodeId[]): string => ns.map((n) => `"${n}"`).join(", ");
    const old = oldNodes.length > 0 ? `node(s) ${quote(oldNodes)} are still old` : "";
    const open = unfinishedNodes.length > 0 ? `node(s) ${quote(unfinishedNodes)} turned new but their part never ended` : "";
    super(`update #${update} stalled: nothing is in flight and ${[old, open].filter((x) => x !== "").join("; ") || "the coordinator never started it"}`);
  }
}

/** Prepare's deadline passed with nodes not prepared: the update is aborted, no node changed. */
export class PrepareDeadlineError extends LiveswapError {
  readonly code = "PREPARE_DEADLINE";
  constructor(
    readonly update: number,
    readonly nodes: readonly NodeId[],
    readonly deadlineMs: number,
  ) {
    super(
      `update #${update} aborted in prepare: node(s) ${nodes.map((n) => `"${n}"`).join(", ")} did not prepare within ${deadlineMs} ms ` +
        "(down, frozen or cut off?); no node was changed. Check them (`ctl status`) and update again, or give a longer deadline",
    );
  }
}

/** The operator aborted the update in prepare (`ctl abort`): every node disarmed, none changed. */
export class UpdateAbortedError extends LiveswapError {
  readonly code = "UPDATE_ABORTED";
  constructor(
    readonly update: number,
    readonly reason: string,
  ) {
    super(`update #${update} was aborted in prepare${reason ? ` (${reason})` : ""}; no node was changed`);
  }
}

/**
 * forget was refused: the node still runs (a running node is destroyed, not forgotten), it is the root of the running
 * update (its coordinator lives there: take the update over at another node), or forgetting it would cut nodes of the
 * update off from the root.
 */
export class ForgetRefusedError extends LiveswapError {
  readonly code = "FORGET_REFUSED";
  constructor(
    readonly node: NodeId,
    readonly reason: string,
  ) {
    super(`forget "${node}" was refused: ${reason}`);
  }
}

/**
 * takeover was refused: no update runs, its root still runs (a root that is only down comes back and resumes from
 * its journal), or the new root cannot take it (not a live node of the update, or some node would be cut off).
 */
export class TakeoverRefusedError extends LiveswapError {
  readonly code = "TAKEOVER_REFUSED";
  constructor(
    readonly root: NodeId,
    readonly reason: string,
  ) {
    super(`takeover at "${root}" was refused: ${reason}`);
  }
}

/** A node without a store was lost after nodes turned new: its state is gone, so the update cannot finish. */
export class UpdateFailedError extends LiveswapError {
  readonly code = "UPDATE_FAILED";
  constructor(
    readonly update: number,
    readonly node: NodeId,
    readonly reason: string,
  ) {
    super(
      `update #${update} failed: node "${node}" was lost (${reason}) after nodes turned new; every node was told the ` +
        "update is over. Give the cluster a store (`store:` in the cluster file) so that nodes come back from it",
    );
  }
}

/** watch, abort or resume with no update for it: none running (or halted), or none at the node asked. */
export class NoUpdateError extends LiveswapError {
  readonly code = "NO_UPDATE";
  constructor(
    readonly operation: string,
    detail: string,
  ) {
    super(`${operation}: ${detail}`);
  }
}

/** An abort asked of an update past prepare: a node may be turning new, so it can only go on (or be resumed). */
export class UpdateNotAbortableError extends LiveswapError {
  readonly code = "UPDATE_NOT_ABORTABLE";
  constructor(
    readonly update: number,
    readonly phase: string,
  ) {
    super(
      `update #${update} cannot be aborted: it is ${phase}, past prepare, so nodes may be turning new already. ` +
        "Wait for it (`ctl watch`); a halted update is finished with `ctl resume PACKAGE`",
    );
  }
}

/** A transfer (or mapping) threw at swap time: the update is halted, safely, until resume(u) finishes it. */
export class UpdateHaltedError extends LiveswapError {
  readonly code = "UPDATE_HALTED";
  constructor(
    readonly update: number,
    readonly failures: readonly { readonly node: NodeId; readonly error: string }[],
  ) {
    const list = failures.map((f) => `"${f.node}": ${f.error}`).join("; ");
    super(
      `update #${update} is halted: the state transfer threw at swap time at ${list}. Those nodes stay old and keep ` +
        "serving; no node executes a message of the other epoch and none is lost. Fix the transfer (or mapping) and call " +
        "resume() with the same from and to behaviors to finish the update",
    );
  }
}

/** A halted node refused a resume's corrected code (its dry run threw, or it updates other versions). */
export class ResumeRefusedError extends LiveswapError {
  readonly code = "RESUME_REFUSED";
  constructor(readonly update: number, readonly node: NodeId, readonly reason: string) {
    super(`resume of update #${update}: node "${node}" refused the corrected code: ${reason}. The update stays halted, nothing changed there; fix it and call resume() again`);
  }
}

export class SettleStalledError extends LiveswapError {
  readonly code = "SETTLE_STALLED";
  constructor(readonly requests: readonly string[]) {
    super(`settle: nothing is in flight but request(s) ${requests.join(", ")} are still open and nothing can answer them`);
  }
}

export class NoRequestHandlerError extends LiveswapError {
  readonly code = "NO_REQUEST_HANDLER";
  constructor(readonly node: NodeId, readonly version: string) {
    super(`request: node "${node}" runs "${version}", which has no request handler`);
  }
}

export class UnknownRequestError extends LiveswapError {
  readonly code = "UNKNOWN_REQUEST";
  constructor(readonly node: NodeId, readonly request: string) {
    super(`respond: node "${node}" has no open request "${request}" (already answered, or never asked)`);
  }
}

export class RequestTimeoutError extends LiveswapError {
  readonly code = "REQUEST_TIMEOUT";
  constructor(readonly node: NodeId, readonly request: string, readonly afterMs: number) {
    super(`request ${request} to node "${node}" got no response within ${afterMs} ms`);
  }
}

export class RequestFailedError extends LiveswapError {
  readonly code = "REQUEST_FAILED";
  constructor(readonly node: NodeId, readonly request: string, reason: string) {
    super(`request ${request} to node "${node}" failed: ${reason}`);
  }
}

export class InvalidOptionError extends LiveswapError {
  readonly code = "INVALID_OPTION";
  constructor(readonly option: string, detail: string) {
    super(`option ${option}: ${detail}`);
  }
}

export class SystemClosedError extends LiveswapError {
  readonly code = "SYSTEM_CLOSED";
  constructor(operation: string) {
    super(`${operation}: the system is closed`);
  }
}

export class SchedulerError extends LiveswapError {
  readonly code = "SCHEDULER";
  constructor(detail: string) {
    super(`step: ${detail}`);
  }
}

/** The message of anything thrown, for an error that names its own kind (e.g. a refusal's reason). */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Anything thrown, as an Error (a thrown string or value becomes the message). */
export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(describeError(e));
}

/** Human text for anything thrown by user code. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  try {
    return `thrown value ${JSON.stringify(e)}`;
  } catch {
    return `thrown value ${String(e)}`;
  }
}

export class ContextOutsideHandlerError extends LiveswapError {
  readonly code = "CONTEXT_OUTSIDE_HANDLER";
  constructor(readonly node: NodeId) {
    super(
      `node "${node}": the context was used outside its handler; effects can only be requested while a handler runs ` +
        "(do not keep ctx for later: send, respond or set a timer before the handler returns)",
    );
  }
}

/**
 * A "this cannot happen" invariant broke: the bug is in liveswap (or a strategy),
 * not in the caller's program, so the message asks for a report rather than a fix.
 */
export class InternalError extends LiveswapError {
  readonly code = "INTERNAL";
  constructor(detail: string, options?: { cause?: unknown }) {
    super(`internal error (a liveswap bug, please report it): ${detail}`, options);
  }
}

/** A trace that is not liveswap's: an event of an unknown kind or shape. */
export class InvalidTraceError extends LiveswapError {
  readonly code = "INVALID_TRACE";
  constructor(detail: string) {
    super(`${detail}; a trace is what liveswap writes (--trace, ctl trace): check the file is one, whole and unedited`);
  }
}

/** A file the command needs could not be read or written. */
export class FileAccessError extends LiveswapError {
  readonly code = "FILE_ACCESS";
  constructor(readonly path: string, action: "read" | "write", cause: string) {
    super(`cannot ${action} "${path}" (${cause}); check the path exists and is ${action === "read" ? "readable" : "writable"}`);
  }
}

/**
 * A node would run a version that an update replaced (issue 13): an old image rejoining a new system would
 * execute new messages with old code. `update` is the update that retired it where it is known (the simulator).
 */
export class RetiredVersionError extends LiveswapError {
  readonly code = "RETIRED_VERSION";
  constructor(
    readonly node: NodeId,
    readonly version: string,
    readonly update: number | undefined,
    readonly current: readonly string[],
    operation = "create",
  ) {
    const by = update === undefined ? "an update replaced it" : `update #${update} replaced it`;
    const now = current.length > 0 ? current.map((v) => `"${v}"`).join(", ") : "no version (no node)";
    super(
      `${operation}: node "${node}" ${operation === "create" ? "would run" : "runs"} "${version}", which is retired (${by}); the system runs ${now} now. ` +
        `Old images cannot rejoin: use a current behavior, or back out first with an update to "${version}"`,
    );
  }
}

/** Two different behavior objects claim one version string in one system: messages and updates name code by its version. */
export class DuplicateVersionError extends LiveswapError {
  readonly code = "DUPLICATE_VERSION";
  constructor(readonly version: string, where: string) {
    super(
      `${where}: another behavior object already has version "${version}" in this system; ` +
        "a version names one behavior: reuse that object, or give the new behavior its own version string",
    );
  }
}

/** An outside request that nothing can answer any more: the system has nothing left to run. */
export class RequestStalledError extends LiveswapError {
  readonly code = "REQUEST_STALLED";
  constructor(readonly node: NodeId, readonly request: string) {
    super(
      `request ${request} to node "${node}" can never be answered: nothing is in flight, no timer is pending and the ` +
        "node has not responded; respond from the handler (ctx.respond, now or from a later event), or set requestTimeoutMs",
    );
  }
}

/** settle() ran past its bound of virtual time: what kept the system busy is named. */
export class SettleTimeoutError extends LiveswapError {
  readonly code = "SETTLE_TIMEOUT";
  constructor(readonly withinMs: number, readonly busy: readonly string[], reason: string) {
    super(
      `settle: the system did not settle ${reason}; busy with: ${busy.join("; ") || "nothing recorded"}. ` +
        "Stop what keeps re-arming, pass a larger settle({ withinMs }), or use sleep(ms) to run for a fixed time",
    );
  }
}

/** A node's durable record is of a format this liveswap does not read (or holds nothing it can recover from). */
export class RecordFormatError extends LiveswapError {
  readonly code = "RECORD_FORMAT";
  constructor(readonly owner: string, readonly found: string, readonly reads: readonly number[], detail?: string) {
    super(
      `${owner}: its durable record is of format ${found}, and this liveswap reads format ${reads.join(", ")}` +
        `${detail !== undefined ? ` (${detail})` : ""}; recover it with the liveswap that wrote it, or upgrade this one`,
    );
  }
}

/** An operation needs a node that is crashed (System.crash) and not restarted yet. */
export class NodeDownError extends LiveswapError {
  readonly code = "NODE_DOWN";
  constructor(readonly node: NodeId, operation: string) {
    super(`${operation}: node "${node}" is crashed; restart("${node}") first (messages and requests to it wait for it)`);
  }
}

/**
 * An operation named a node that is moving to another location (docs/design.md "Moving a node"): it runs nowhere until it
 * arrives; what is sent to it waits for it.
 */
export class NodeMovingError extends LiveswapError {
  readonly code = "NODE_MOVING";
  constructor(
    readonly node: NodeId,
    readonly to: string,
    operation: string,
  ) {
    super(`${operation}: node "${node}" is moving to "${to}"; await its move() first (messages and requests to it wait for it)`);
  }
}

/** A move was refused before anything changed: a bad destination, a node that cannot travel, a running update. */
export class MoveRefusedError extends LiveswapError {
  readonly code = "MOVE_REFUSED";
  constructor(
    readonly node: NodeId,
    readonly reason: string,
  ) {
    super(`move of "${node}" was refused: ${reason}`);
  }
}

/**
 * A move did not complete: the source stopped before the destination committed the node's record (the source
 * crashed, or the destination refused or failed). The node lives at exactly one location, its source, and nothing
 * it committed is lost; the destination will refuse this move's record from now on.
 */
export class MoveInterruptedError extends LiveswapError {
  readonly code = "MOVE_INTERRUPTED";
  constructor(
    readonly node: NodeId,
    readonly from: string,
    readonly to: string,
    readonly reason: string,
  ) {
    super(`the move of "${node}" from "${from}" to "${to}" was interrupted (${reason}); the node stays at "${from}" with nothing lost: bring it up there if it is down, then move it again`);
  }
}

/** A node that is not crashed was asked to restart, or one already crashed to crash. */
export class NodeNotDownError extends LiveswapError {
  readonly code = "NODE_NOT_DOWN";
  constructor(readonly node: NodeId, operation: string) {
    super(`${operation}: node "${node}" is running; crash("${node}") stops it, restart("${node}") brings a crashed node back`);
  }
}

/** A link is partitioned already, or healed while it was not partitioned. */
export class PartitionError extends LiveswapError {
  readonly code = "PARTITION";
  constructor(a: NodeId, b: NodeId, partitioned: boolean) {
    super(
      partitioned
        ? `partition: the link "${a}"-"${b}" is partitioned already; heal("${a}", "${b}") first`
        : `heal: the link "${a}"-"${b}" is not partitioned; partition("${a}", "${b}") cuts it`,
    );
  }
}

/** LIVESWAP_FAILPOINTS (or setFailpoint) names a point the code does not declare, an unknown action, or is malformed. */
export class FailpointSpecError extends LiveswapError {
  readonly code = "FAILPOINT_SPEC";
  constructor(
    readonly source: string,
    readonly spec: string,
    detail: string,
    grammar: string,
  ) {
    super(`${source} ${JSON.stringify(spec)}: ${detail}; write ${grammar}`);
  }
}

/** A failpoint set to `throw` was passed (in-process tests only: a process is made to crash or stall instead). */
export class FailpointError extends LiveswapError {
  readonly code = "FAILPOINT";
  constructor(readonly point: string) {
    super(`failpoint "${point}" was passed and is set to throw; clearFailpoints() when the test is done with it`);
  }
}

/**
 * A peer or control session speaks another wire format than this process (an older liveswap's hello names none):
 * mixing formats would misread frames, so the connection is refused. `peer` describes it (`node "b"`), `self` this
 * process, so the message names the side to upgrade: the one with the lower format.
 */
export class WireFormatError extends LiveswapError {
  readonly code = "WIRE_FORMAT";
  constructor(
    readonly peer: string,
    readonly theirs: number | undefined,
    readonly ours: number,
    self: string,
  ) {
    const speaks = theirs === undefined ? "an older liveswap wire format (its hello names none)" : `liveswap wire format ${theirs}`;
    const behind = theirs === undefined || theirs < ours ? peer : self;
    super(`${peer} speaks ${speaks}, this process (${self}) reads ${ours}: upgrade liveswap on ${behind} first`);
  }
}

/**
 * A retried request whose id the node no longer remembers: it was accepted long enough ago (or before the node last
 * started) that its record left the retention window. Running it again could run it twice, so it is refused.
 */
export class RequestExpiredError extends LiveswapError {
  readonly code = "REQUEST_EXPIRED";
  constructor(readonly node: NodeId, readonly request: string, readonly detail: string) {
    super(
      `request "${request}" to node "${node}": its id is older than the node's retention window (${detail}), so the ` +
        "request may or may not have run; check whether its effect is there (read the state) before sending it again under a new id",
    );
  }
}

/** A request id sent again with another body: a retry must repeat its request exactly, a new request needs a new id. */
export class RequestIdReusedError extends LiveswapError {
  readonly code = "REQUEST_ID_REUSED";
  constructor(readonly node: NodeId, readonly request: string) {
    super(
      `request "${request}" to node "${node}": this id was already used with a different body; ` +
        "a retry must send the same body, and a new request needs an id of its own (omit it to get a random one)",
    );
  }
}

/**
 * A node's durable store (deploy/store) holds a record this liveswap cannot read: written by a newer liveswap (a
 * higher format version) or by something that is not liveswap. Refused rather than guessed at: a node that misread
 * its record would resume from a state it never had.
 */
export class StoreFormatError extends LiveswapError {
  readonly code = "STORE_FORMAT";
  constructor(readonly file: string, readonly found: string, readonly readable: readonly number[], what = "a record") {
    super(
      `store "${file}": ${what} has format version ${found}, and this liveswap reads version${readable.length === 1 ? "" : "s"} ${readable.join(", ")}; ` +
        "run this node with the liveswap that wrote the store (upgrade liveswap on this machine), or destroy the node to start it empty",
    );
  }
}

/** Another process (or another opener in this one) has the node's store open: two writers would interleave their logs. */
export class StoreLockedError extends LiveswapError {
  readonly code = "STORE_LOCKED";
  constructor(readonly dir: string, readonly pid: number | undefined) {
    const holder = pid === undefined ? "another opener (its pid is not recorded yet)" : pid === process.pid ? `this process (pid ${pid})` : `pid ${pid}`;
    super(
      `store "${dir}" is open in ${holder}; one node process owns its store: stop that process first ` +
        "(or close the store this process opened), or give this node another store directory",
    );
  }
}

/**
 * A commit (or clear) did not become durable. Fatal by design: the caller stops the node and never retries, since
 * a failed fsync may have dropped the dirty pages it was to write (the PostgreSQL fsync lesson); a restart
 * recovers from what the store holds.
 */
export class StoreCommitError extends LiveswapError {
  readonly code = "STORE_COMMIT";
  constructor(readonly dir: string, what: string, options?: { cause?: unknown }) {
    super(
      `store "${dir}": ${what}; nothing of this batch may be relied on: stop the node (never retry the commit) and restart it, ` +
        "it recovers from what the store holds (check the disk: space, permissions, I/O errors in the system log)",
      options,
    );
  }
}

/** A store's files are there but are not a readable liveswap store (damaged, truncated, or another program's). */
export class StoreCorruptError extends LiveswapError {
  readonly code = "STORE_CORRUPT";
  constructor(readonly path: string, what: string, options?: { cause?: unknown }) {
    super(
      `store "${path}" is damaged: ${what}; the node cannot recover from it. ` +
        "Restore the directory from a backup, or move it aside and destroy/recreate the node to start it empty",
      options,
    );
  }
}

/** A store's directory or files cannot be created or opened (permissions, a file in the way, a read-only disk). */
export class StoreOpenError extends LiveswapError {
  readonly code = "STORE_OPEN";
  constructor(readonly path: string, what: string, options?: { cause?: unknown }) {
    super(`cannot open the store at "${path}": ${what}; check the path is a directory this user can read and write, on a writable disk`, options);
  }
}
